package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
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
	TxPerLink   float64         `json:"tx_per_link"`
	SyncPerLink float64         `json:"wal_syncs_per_link"`
	Waits       []WaitShare     `json:"waits"`
	Statements  []StatementStat `json:"statements,omitempty"`
	Profiles    []string        `json:"profiles,omitempty"`

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

// Resources are CPU and memory while the window lasted.
type Resources struct {
	Cores       map[string]float64 `json:"cores"` // CPU seconds per second, by process
	MachineBusy float64            `json:"machine_busy"`
	IOWait      float64            `json:"iowait"`
	PeakRSSMB   map[string]float64 `json:"peak_rss_mb"` // VmHWM
	CPUPerLink  float64            `json:"serve_cpu_ms_per_link"`
}

// DrainResult is the wait for outstanding webhooks after a phase.
type DrainResult struct {
	Pending   int     `json:"pending"`
	Drained   int     `json:"drained"`
	Seconds   float64 `json:"seconds"`
	PerSec    float64 `json:"per_sec"`
	Cancelled int64   `json:"cancelled_jobs"`
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
	Goal string `json:"goal"`
	Got  string `json:"got"`
	Met  bool   `json:"met"`
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
	return nil
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o644)
}
