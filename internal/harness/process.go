package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// startMarker begins each start's part of a process's log.
const startMarker = "--- harness: start"

// Process is a child process in a process group of its own, so a signal
// reaches everything it started, logging to LogPath (appended across
// restarts). Kill9, Terminate and Start may follow each other any number of
// times; Stop ends it for good.
type Process struct {
	Name    string // for messages and the log's start markers
	Bin     string
	Args    []string
	Env     []string // nil: ours
	LogPath string

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed once cmd has been waited for
	starts  int
	stopped bool
}

// Start launches the process; it is an error when it already runs.
func (p *Process) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return fmt.Errorf("%s: stopped for good", p.Name)
	}
	if p.cmd != nil {
		return fmt.Errorf("%s: already running", p.Name)
	}
	logFile, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("error opening log of %s: %w", p.Name, err)
	}
	p.starts++
	fmt.Fprintf(logFile, "%s %d of %s at %s\n", startMarker, p.starts, p.Name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.Bin, p.Args...)
	cmd.Env = p.Env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Killed with us, should the harness itself die.
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

// PID is the running process's id, 0 when it is not running.
func (p *Process) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Running reports whether the process was started and not killed since.
func (p *Process) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil
}

// Alive reports whether the process runs: started, not killed and not
// exited on its own.
func (p *Process) Alive() bool {
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

// Kill9 sends SIGKILL to the process group and waits until it is gone.
func (p *Process) Kill9() { p.signalAndWait(syscall.SIGKILL, 0) }

// Terminate sends SIGTERM to the process group, then SIGKILL after grace;
// the process may be started again.
func (p *Process) Terminate(grace time.Duration) { p.signalAndWait(syscall.SIGTERM, grace) }

// Stop terminates the process for good.
func (p *Process) Stop(grace time.Duration) {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	p.Terminate(grace)
}

func (p *Process) signalAndWait(sig syscall.Signal, grace time.Duration) {
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

// WaitLog waits until the log of the latest start contains text: the
// readiness of a process that serves no HTTP.
func (p *Process) WaitLog(ctx context.Context, text string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if !p.Alive() {
			return fmt.Errorf("%s exited while starting", p.Name)
		}
		if strings.Contains(p.LogSinceStart(), text) {
			return nil
		}
		if err := sleep(ctx, pollEvery); err != nil {
			return err
		}
	}
	return fmt.Errorf("%s did not log %q within %s", p.Name, text, timeout)
}

// LogSinceStart is the log since the latest start marker.
func (p *Process) LogSinceStart() string {
	s := p.log()
	if i := strings.LastIndex(s, startMarker); i >= 0 {
		s = s[i:]
	}
	return s
}

// LogTail is the last n lines of the log.
func (p *Process) LogTail(n int) string { return Tail(p.log(), n) }

// LogGrep counts log lines containing every one of words.
func (p *Process) LogGrep(words ...string) int {
	n := 0
	for line := range strings.SplitSeq(p.log(), "\n") {
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

func (p *Process) log() string {
	data, err := os.ReadFile(p.LogPath)
	if err != nil {
		return ""
	}
	return string(data)
}
