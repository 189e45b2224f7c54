package chaos

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is one patientlink process (serve --role api|worker) in a process
// group of its own, so a kill reaches everything it started. Kill9 and
// Restart may be called any number of times; Stop ends it for good.
type Proc struct {
	Name string // api-1, worker-2 …
	Role string // api or worker
	Addr string // API listen address; also set for workers (unused there)

	bin     string
	env     []string
	logPath string

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed when cmd has been waited for
	starts  int
	stopped bool
}

func newProc(bin, name, role, addr, logDir string, env []string) *Proc {
	return &Proc{
		Name: name, Role: role, Addr: addr, bin: bin,
		env:     append(slices.Clone(env), "PATIENTLINK_ADDR="+addr),
		logPath: filepath.Join(logDir, name+".log"),
	}
}

// Start launches the process; it is an error when it already runs.
func (p *Proc) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return fmt.Errorf("%s: stopped for good", p.Name)
	}
	if p.cmd != nil {
		return fmt.Errorf("%s: already running", p.Name)
	}
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("error opening log of %s: %w", p.Name, err)
	}
	p.starts++
	fmt.Fprintf(logFile, "--- chaos: start %d of %s at %s\n", p.starts, p.Name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.bin, "serve", "--role", p.Role)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// A group of its own (kill -9 -pgid reaches all of it), and killed with
	// us should the chaos program itself die.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("error starting %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(done)
	}()
	p.cmd, p.done = cmd, done
	return nil
}

// Running reports whether the process was started and not yet killed.
func (p *Proc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil
}

// Kill9 sends SIGKILL to the process group and waits until it is gone.
func (p *Proc) Kill9() {
	p.signalAndWait(syscall.SIGKILL, 0)
}

// Stop ends the process (SIGTERM, then SIGKILL after grace) for good.
func (p *Proc) Stop(grace time.Duration) {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	p.signalAndWait(syscall.SIGTERM, grace)
}

func (p *Proc) signalAndWait(sig syscall.Signal, grace time.Duration) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd, p.done = nil, nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	pgid := cmd.Process.Pid
	_ = syscall.Kill(-pgid, sig)
	if sig != syscall.SIGKILL {
		select {
		case <-done:
			return
		case <-time.After(grace):
		}
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
}

// Restart starts a killed process again and waits until it is ready.
func (p *Proc) Restart(ctx context.Context) error {
	if err := p.Start(); err != nil {
		return err
	}
	return p.WaitReady(ctx, 30*time.Second)
}

// WaitReady waits for /healthz of an API process; a worker is ready once
// its log says River started.
func (p *Proc) WaitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	last := "no answer yet"
	for time.Now().Before(deadline) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !p.alive() {
			return fmt.Errorf("%s exited while starting:\n%s", p.Name, p.LogTail(20))
		}
		if p.Role == "api" {
			res, err := client.Get("http://" + p.Addr + "/healthz")
			if err != nil {
				last = err.Error()
			} else {
				res.Body.Close()
				if res.StatusCode == http.StatusOK {
					return nil
				}
				last = res.Status
			}
		} else if strings.Contains(p.lastStartLog(), "River workers started") {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %s (%s):\n%s", p.Name, timeout, last, p.LogTail(20))
}

func (p *Proc) alive() bool {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// lastStartLog is the log since the latest start marker.
func (p *Proc) lastStartLog() string {
	data, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	s := string(data)
	if i := strings.LastIndex(s, "--- chaos: start"); i >= 0 {
		s = s[i:]
	}
	return s
}

// LogTail returns the last n lines of the process's log.
func (p *Proc) LogTail(n int) string {
	data, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	return lastLines(string(data), n)
}

// LogGrep counts log lines containing every one of words.
func (p *Proc) LogGrep(words ...string) int {
	data, err := os.ReadFile(p.logPath)
	if err != nil {
		return 0
	}
	n := 0
	for line := range strings.SplitSeq(string(data), "\n") {
		all := true
		for _, w := range words {
			if !strings.Contains(line, w) {
				all = false
				break
			}
		}
		if all {
			n++
		}
	}
	return n
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// runCommand runs the binary once (migrate, customer create …) with a
// bounded time and returns its standard output.
func runCommand(ctx context.Context, bin string, env []string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("patientlink %s: %w: %s", strings.Join(args, " "), err, lastLines(stderr.String(), 10))
	}
	return out, nil
}

// Build compiles ./cmd/patientlink of the module at root into dir.
func Build(ctx context.Context, root, dir string, log io.Writer) (string, error) {
	bin := filepath.Join(dir, "patientlink")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/patientlink")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build: %w", err)
	}
	return bin, nil
}
