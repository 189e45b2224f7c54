package harness

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The figures come from /proc and are plausible for this very process.
func TestProcStat(t *testing.T) {
	t.Parallel()
	hwm, rss, err := ProcMem(os.Getpid())
	require.NoError(t, err)
	require.Positive(t, rss)
	require.GreaterOrEqual(t, hwm, rss, "the high-water mark is at least the current size")

	before := ReadMachineCPU()
	deadline := time.Now().Add(50 * time.Millisecond)
	for n := 0; time.Now().Before(deadline); n++ { // some CPU to count
		_ = n * n
	}
	cpu, ppid, err := ProcCPU(os.Getpid(), false)
	require.NoError(t, err)
	require.Equal(t, os.Getppid(), ppid)
	require.Positive(t, cpu)
	after := ReadMachineCPU()
	require.Greater(t, after.Total, before.Total)
	require.InDelta(t, 1, BusyCores(before, after, 2), 1, "between 0 and 2 cores of 2")
	require.Zero(t, BusyCores(after, before, 2), "counters never run backwards")

	_, _, err = ProcMem(1 << 30)
	require.Error(t, err, "no such process")
}
