package harness

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A worker serves no HTTP: it is ready once its log says River started,
// and restarts after a kill -9.
func TestWorkerReadyWhenRiverStarted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	script := filepath.Join(dir, "fake")
	require.NoError(t, os.WriteFile(script, []byte("#!/bin/sh\necho 'River workers started'\nexec sleep 60\n"), 0o755))
	s := NewService(script, "worker-1", "worker", "127.0.0.1:0", dir, nil)
	require.NoError(t, s.Start())
	t.Cleanup(func() { s.Stop(time.Second) })
	require.NoError(t, s.WaitReady(context.Background(), 10*time.Second))
	s.Kill9()
	require.False(t, s.Running())
	require.NoError(t, s.Restart(context.Background()))
	require.Contains(t, s.LogTail(10), "start 2 of worker-1")
}
