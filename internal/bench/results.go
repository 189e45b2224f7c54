package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Report is everything a run measured; it is written as results.json.
type Report struct {
	Started      time.Time                 `json:"started"`
	Seconds      float64                   `json:"seconds"`
	Command      string                    `json:"command"`
	Commit       string                    `json:"commit"`
	Go           string                    `json:"go"`
	Machine      machineInfo               `json:"machine"`
	Postgres     map[string]string         `json:"postgres"`
	Options      Options                   `json:"options"`
	AckSteps     []StepCost                `json:"ack_steps"`
	PayloadBytes int                       `json:"sealed_payload_bytes"`
	NotifyPct    map[string]int            `json:"notify_pct"`
	Phases       []*PhaseResult            `json:"phases"`
	Sweep        []*PhaseResult            `json:"sweep"`
	Pgbench      map[string]*PgbenchResult `json:"pgbench"`
	Ratios       []Ratio                   `json:"ratios"`
	Targets      []Target                  `json:"targets"`
	Receiver     ReceiverStats             `json:"receiver"`
	Notes        []string                  `json:"notes"`
	Dir          string                    `json:"dir"`
}

// PhaseResult is one load phase.
type PhaseResult struct {
	ID          Phase           `json:"id"`
	Name        string          `json:"name"` // for display; find phases by ID
	Mode        string          `json:"mode"`
	Role        string          `json:"role"`
	Settings    ServiceSettings `json:"settings"`
	Concurrency int             `json:"concurrency,omitempty"`
	Batch       int             `json:"batch,omitempty"` // patients per POST /links; 0: POST /link
	Rate        float64         `json:"rate,omitempty"`
	Window      float64         `json:"window_s"`
	Requests    int             `json:"requests"`
	Ack         Summary         `json:"ack"`
	AckErrors   Counts          `json:"ack_errors"`
	E2E         Summary         `json:"e2e_webhook"`   // 202 → webhook received
	E2EDone     Summary         `json:"e2e_completed"` // RECEIVED → COMPLETED events
	E2EErrors   Counts          `json:"e2e_errors"`
	States      Counts          `json:"states"`
	Drain       *DrainResult    `json:"drain,omitempty"`
	Resources   Resources       `json:"resources"`
	DB          dbStats         `json:"db_delta"`
	Links       int             `json:"links"` // acknowledged in the phase, warm-up included
	PerPatient  Cost            `json:"per_patient"`
	Waits       []WaitShare     `json:"waits"`
	Statements  []StatementStat `json:"statements,omitempty"`
	Profiles    []string        `json:"profiles,omitempty"`
	CPUTop      *CPUTop         `json:"cpu_top,omitempty"` // of serve's CPU profile

	ackLat, e2eLat []time.Duration
}

// phase is the result of phase id, nil when it did not run.
func (rep *Report) phase(id Phase) *PhaseResult {
	for _, p := range rep.Phases {
		if p.ID == id {
			return p
		}
	}
	return nil
}

// phases are the results of phase id, in run order.
func (rep *Report) phases(id Phase) []*PhaseResult {
	var out []*PhaseResult
	for _, p := range rep.Phases {
		if p.ID == id {
			out = append(out, p)
		}
	}
	return out
}

// Resources are CPU and memory while the window lasted.
type Resources struct {
	Cores       map[string]float64 `json:"cores"` // CPU seconds per second, by process
	MachineBusy float64            `json:"machine_busy"`
	IOWait      float64            `json:"iowait"`
	PeakRSSMB   map[string]float64 `json:"peak_rss_mb"` // VmHWM
}

// Cost is a phase's throughput and what one patient cost in it, the same
// figures for every phase. The unit is an acknowledgement where the phase
// only acknowledges or acknowledges faster than its workers finish (closed
// loop), and a whole link, 202 to webhook received, where the webhooks
// keep up (end to end, drain, open loop with workers).
type Cost struct {
	Unit          string  `json:"unit"`  // "ack" or "link"
	Count         int     `json:"count"` // units inside the window
	PerSec        float64 `json:"per_sec"`
	P50MS         float64 `json:"p50_ms"` // of a request (ack; one latency per POST /links) or of 202 → webhook (link)
	P99MS         float64 `json:"p99_ms"`
	Tx            float64 `json:"tx"` // PostgreSQL commits
	WALSyncs      float64 `json:"wal_syncs"`
	PostgresCPUMS float64 `json:"postgres_cpu_ms"`
	ServeCPUMS    float64 `json:"serve_cpu_ms"`
	ServeRSSMB    float64 `json:"serve_rss_mb"` // VmHWM of serve when the phase ended
}

// CPUTop is where serve's CPU went in a phase: the functions with the most
// samples of their own, and our functions with the most below them.
type CPUTop struct {
	Flat []ProfileLine `json:"flat"`
	Ours []ProfileLine `json:"ours_cum"`
}

// DrainResult is the wait for outstanding webhooks after a phase.
type DrainResult struct {
	Pending int     `json:"pending"`
	Drained int     `json:"drained"`
	Seconds float64 `json:"seconds"`
	PerSec  float64 `json:"per_sec"`
}

// Ratio is one of our figures over its pgbench ceiling.
type Ratio struct {
	What    string  `json:"what"`
	Ours    float64 `json:"ours"`
	Ceiling float64 `json:"ceiling"`
	Ratio   float64 `json:"ratio"`
}

// Target is one goal of the benchmark and whether this run met it.
type Target struct {
	Goal   string `json:"goal"`
	Got    string `json:"got"`
	Met    bool   `json:"met"`
	Status string `json:"status"` // met, not met, or not measured (its phases did not run)
}

func (r *runner) write() error {
	b, err := json.MarshalIndent(r.report, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(r.dir, "results.json"), b, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(r.opts.OutDir, "latest.json"), b, 0o644); err != nil {
		return err
	}
	if err := writePlot(r.report, filepath.Join(r.dir, "latency.png")); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	if err := copyFile(filepath.Join(r.dir, "latency.png"), filepath.Join(r.opts.OutDir, "latency.png")); err != nil {
		return err
	}
	if ok, err := writeBatchPlot(r.report, filepath.Join(r.dir, "batch.png")); err != nil {
		return fmt.Errorf("batch plot: %w", err)
	} else if ok {
		if err := copyFile(filepath.Join(r.dir, "batch.png"), filepath.Join(r.opts.OutDir, "batch.png")); err != nil {
			return err
		}
	}
	// Each phase's statements, in full (the table prints a few phases).
	for _, p := range append(append([]*PhaseResult{}, r.report.Phases...), r.report.Sweep...) {
		if len(p.Statements) == 0 {
			continue
		}
		var b strings.Builder
		fmt.Fprintf(&b, "Statements of %q (pg_stat_statements; per link = calls ÷ %d links)\n", p.Name, p.Links)
		writeStatements(&b, p.Statements, len(p.Statements))
		if err := os.WriteFile(filepath.Join(r.dir, "statements-"+slug(p.Name)+".txt"), []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o644)
}
