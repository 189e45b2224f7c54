package harness

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// processAlive reports whether pid runs (a zombie does not).
func processAlive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	// pid (comm) state …: the state follows the last ')'.
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

// Kill9 reaches the whole process group, children included, and the
// process starts again afterwards; Stop is for good.
func TestProcessKill9KillsTheGroup(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	script := filepath.Join(dir, "fake")
	childPID := filepath.Join(dir, "child.pid")
	require.NoError(t, os.WriteFile(script, []byte("#!/bin/sh\necho 'ready'\nsleep 60 &\necho $! > "+childPID+"\nwait\n"), 0o755))
	p := &Process{Name: "worker-1", Bin: script, LogPath: filepath.Join(dir, "worker-1.log")}
	require.NoError(t, p.Start())
	t.Cleanup(func() { p.Stop(time.Second) })
	require.NoError(t, p.WaitLog(context.Background(), "ready", 10*time.Second))
	var child int
	require.Eventually(t, func() bool {
		data, err := os.ReadFile(childPID)
		child, _ = strconv.Atoi(strings.TrimSpace(string(data)))
		return err == nil && child > 0
	}, 5*time.Second, 10*time.Millisecond)

	p.Kill9()
	require.False(t, p.Running())
	require.False(t, p.Alive())
	require.Eventually(t, func() bool { return !processAlive(child) }, 5*time.Second, 10*time.Millisecond, "the child died with its group")

	require.NoError(t, p.Start())
	require.NoError(t, p.WaitLog(context.Background(), "ready", 10*time.Second))
	require.Positive(t, p.PID())
	p.Stop(time.Second)
	require.False(t, p.Running())
	require.Error(t, p.Start(), "stopped for good")
	require.Contains(t, p.LogTail(10), "start 2 of worker-1")
	require.Equal(t, 2, p.LogGrep("ready"))
}

// A process that dies while starting fails the readiness wait at once.
func TestWaitHTTPNoticesAnExit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := &Process{Name: "false", Bin: "/bin/false", LogPath: filepath.Join(dir, "false.log")}
	require.NoError(t, p.Start())
	t.Cleanup(func() { p.Stop(time.Second) })
	addr, err := FreeAddr()
	require.NoError(t, err)
	start := time.Now()
	err = WaitHTTP(context.Background(), "http://"+addr+"/healthz", 30*time.Second, p.Alive)
	require.ErrorContains(t, err, "exited")
	require.Less(t, time.Since(start), 10*time.Second)
}

func TestInProcessStopReturnsTheError(t *testing.T) {
	t.Parallel()
	p := StartInProcess(context.Background(), func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	})
	require.True(t, p.Alive())
	require.ErrorIs(t, p.Stop(time.Second), context.Canceled)
	require.False(t, p.Alive())
}
