package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
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

// buildService builds ./cmd/patientlink of moduleDir into dir.
func buildService(ctx context.Context, moduleDir, dir string) (string, error) {
	absModule, err := filepath.Abs(moduleDir)
	if err != nil {
		return "", err
	}
	overlayFile := filepath.Join(dir, "zz_linkbench_pprof.go")
	if err := os.WriteFile(overlayFile, []byte(pprofOverlay), 0o644); err != nil {
		return "", err
	}
	overlay, _ := json.Marshal(map[string]map[string]string{"Replace": {
		filepath.Join(absModule, "cmd", "patientlink", "zz_linkbench_pprof.go"): overlayFile,
	}})
	overlayJSON := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(overlayJSON, overlay, 0o644); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "patientlink")
	cmd := exec.CommandContext(ctx, "go", "build", "-overlay", overlayJSON, "-o", bin, "./cmd/patientlink")
	cmd.Dir = absModule
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/patientlink: %w\n%s", err, out)
	}
	return bin, nil
}

// proc is a child process of the harness.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
	done chan error
}

func startProc(name, bin string, args, env []string, logPath string) (*proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	// Never outlive the harness.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: f, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process already ended.
func (p *proc) exited() bool {
	select {
	case err := <-p.done:
		p.done <- err
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, then SIGKILL after grace.
func (p *proc) stop(grace time.Duration) {
	defer p.log.Close()
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(grace):
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
}

// freeAddr is a loopback address nobody listens on (right now).
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitHTTP polls url until it answers 200 or timeout passes.
func waitHTTP(ctx context.Context, url string, timeout time.Duration, p *proc) error {
	deadline := time.Now().Add(timeout)
	for i := 0; time.Now().Before(deadline) && i < 10000; i++ {
		if p != nil && p.exited() {
			return fmt.Errorf("%s exited during start-up (see %s)", p.name, p.log.Name())
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer within %s", url, timeout)
}

// waitTCP waits until addr accepts connections.
func waitTCP(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for i := 0; time.Now().Before(deadline) && i < 10000; i++ {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("nothing listens on %s after %s", addr, timeout)
}

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

func (s ServiceSettings) env() []string {
	return []string{
		"PATIENTLINK_FETCH_COOLDOWN=" + s.FetchCooldown,
		"PATIENTLINK_FETCH_POLL_INTERVAL=" + s.FetchPollInterval,
		"PATIENTLINK_LINK_WORKERS=" + strconv.Itoa(s.LinkWorkers),
		"PATIENTLINK_WEBHOOK_WORKERS=" + strconv.Itoa(s.WebhookWorkers),
		"PATIENTLINK_DB_MAX_CONNS=" + strconv.Itoa(s.DBMaxConns),
		"PATIENTLINK_LOG_LEVEL=" + s.LogLevel,
	}
}

// service is a running `patientlink serve`.
type service struct {
	*proc
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
		return "", fmt.Errorf("go tool pprof: %w: %s", err, lastLinesOf(string(out), 5))
	}
	return string(out), nil
}

// readPopulation lists the simulator's first n patients.
func readPopulation(ctx context.Context, bin string, n int) ([]Patient, error) {
	out, err := exec.CommandContext(ctx, bin, "index-sim", "--list", strconv.Itoa(n), "--size", strconv.Itoa(n)).Output()
	if err != nil {
		return nil, fmt.Errorf("index-sim --list: %w", err)
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

// createCustomer runs `patientlink customer create --json`.
func createCustomer(ctx context.Context, bin string, env []string, name, webhookURL string) (Customer, error) {
	cmd := exec.CommandContext(ctx, bin, "customer", "create", "--name", name, "--webhook-url", webhookURL, "--json")
	cmd.Env = env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return Customer{}, fmt.Errorf("customer create: %w: %s", err, stderr.String())
	}
	var c Customer
	if err := json.Unmarshal(out, &c); err != nil {
		return Customer{}, fmt.Errorf("customer create: %w", err)
	}
	return c, nil
}

func runQuiet(ctx context.Context, bin string, env []string, args ...string) error {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", filepath.Base(bin), strings.Join(args, " "), err, lastLinesOf(string(out), 10))
	}
	return nil
}
