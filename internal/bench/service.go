package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/patientlink/patientlink/internal/harness"
)

// pprofOverlay is added to package main at build time only (go build
// -overlay, the work tree untouched): a build whose serve has no operator
// address yet still gives CPU profiles on $LINKBENCH_PPROF_ADDR.
const pprofOverlay = `package main

import (
	"net/http"
	_ "net/http/pprof"
	"os"
)

func init() {
	if addr := os.Getenv("LINKBENCH_PPROF_ADDR"); addr != "" {
		go func() { _ = http.ListenAndServe(addr, nil) }()
	}
}
`

// pprofOverlayFile is the file name pprofOverlay is built in as.
const pprofOverlayFile = "zz_linkbench_pprof.go"

// ServiceSettings are the tunables a phase runs the service with.
type ServiceSettings struct {
	FetchCooldown     string `json:"fetch_cooldown"`
	FetchPollInterval string `json:"fetch_poll_interval"`
	LinkWorkers       int    `json:"link_workers"`
	WebhookWorkers    int    `json:"webhook_workers"`
	DBMaxConns        int    `json:"db_max_conns"`
	LogLevel          string `json:"log_level"`
}

// DefaultSettings are the service's defaults (internal/config).
func DefaultSettings() ServiceSettings {
	return ServiceSettings{FetchCooldown: "10ms", FetchPollInterval: "200ms", LinkWorkers: 50, WebhookWorkers: 50, DBMaxConns: 20, LogLevel: "info"}
}

// Label is a short name for tables.
func (s ServiceSettings) Label() string {
	return fmt.Sprintf("cooldown %s, poll %s, workers %d/%d, pool %d, log %s",
		s.FetchCooldown, s.FetchPollInterval, s.LinkWorkers, s.WebhookWorkers, s.DBMaxConns, s.LogLevel)
}

func (s ServiceSettings) env() harness.Env {
	return harness.Env{
		"PATIENTLINK_FETCH_COOLDOWN":      s.FetchCooldown,
		"PATIENTLINK_FETCH_POLL_INTERVAL": s.FetchPollInterval,
		"PATIENTLINK_LINK_WORKERS":        strconv.Itoa(s.LinkWorkers),
		"PATIENTLINK_WEBHOOK_WORKERS":     strconv.Itoa(s.WebhookWorkers),
		"PATIENTLINK_DB_MAX_CONNS":        strconv.Itoa(s.DBMaxConns),
		"PATIENTLINK_LOG_LEVEL":           s.LogLevel,
	}
}

// service is a running `patientlink serve`.
type service struct {
	*harness.Process
	role      string
	settings  ServiceSettings
	addr      string
	started   time.Time
	pprofBase string // http://host:port of /debug/pprof/, "" if none answers
}

// cpuProfile fetches a CPU profile of seconds into path.
func (s *service) cpuProfile(ctx context.Context, seconds int, path string) error {
	if s.pprofBase == "" {
		return errors.New("no /debug/pprof/ endpoint")
	}
	return fetchTo(ctx, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", s.pprofBase, seconds), path, time.Duration(seconds+20)*time.Second)
}

func (s *service) heapProfile(ctx context.Context, path string) error {
	if s.pprofBase == "" {
		return errors.New("no /debug/pprof/ endpoint")
	}
	return fetchTo(ctx, s.pprofBase+"/debug/pprof/heap", path, 20*time.Second)
}

func fetchTo(ctx context.Context, url, path string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, res.Status)
	}
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// pprofTop renders a profile with `go tool pprof -top` into path.txt.
func pprofTop(ctx context.Context, bin, profile string, extra ...string) (string, error) {
	args := append([]string{"tool", "pprof", "-top", "-nodecount=45"}, extra...)
	args = append(args, bin, profile)
	out, err := exec.CommandContext(ctx, "go", args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go tool pprof: %w: %s", err, harness.Tail(string(out), 5))
	}
	return string(out), nil
}

// ProfileLine is one function of a CPU profile: its own share of the
// samples (flat) and with what it calls (cum).
type ProfileLine struct {
	Func    string  `json:"func"`
	FlatPct float64 `json:"flat_pct"`
	CumPct  float64 `json:"cum_pct"`
}

// parseTop reads `go tool pprof -top` output; keep picks the functions.
func parseTop(text string, n int, keep func(string) bool) []ProfileLine {
	var out []ProfileLine
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || !strings.HasSuffix(f[1], "%") || !strings.HasSuffix(f[4], "%") {
			continue
		}
		flat, err1 := strconv.ParseFloat(strings.TrimSuffix(f[1], "%"), 64)
		cum, err2 := strconv.ParseFloat(strings.TrimSuffix(f[4], "%"), 64)
		fn := strings.Join(f[5:], " ")
		if err1 != nil || err2 != nil || !keep(fn) {
			continue
		}
		out = append(out, ProfileLine{Func: strings.TrimSuffix(fn, " (inline)"), FlatPct: flat, CumPct: cum})
		if len(out) == n {
			break
		}
	}
	return out
}

// ReadPopulation lists the simulator's first n patients.
func ReadPopulation(ctx context.Context, bin string, n int) ([]Patient, error) {
	out, err := harness.RunCommand(ctx, bin, nil, "index-sim", "--list", strconv.Itoa(n), "--size", strconv.Itoa(n))
	if err != nil {
		return nil, err
	}
	var ps []Patient
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var p Patient
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			return nil, fmt.Errorf("index-sim --list: %w", err)
		}
		ps = append(ps, p)
	}
	if len(ps) == 0 {
		return nil, errors.New("index-sim --list printed no patient")
	}
	return ps, sc.Err()
}
