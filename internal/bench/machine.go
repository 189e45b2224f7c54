package bench

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// machineInfo describes the host for the report.
type machineInfo struct {
	CPUs        int     `json:"cpus"`
	CPUModel    string  `json:"cpu_model"`
	MemoryGiB   float64 `json:"memory_gib"`
	Kernel      string  `json:"kernel"`
	FdatasyncPS float64 `json:"fdatasync_per_sec"` // 8 kB write + fdatasync, one at a time
}

func readMachineInfo(dir string) machineInfo {
	m := machineInfo{}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "processor") {
				m.CPUs++
			}
			if v, ok := strings.CutPrefix(line, "model name"); ok && m.CPUModel == "" {
				m.CPUModel = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line)
		if len(f) >= 2 {
			kb, _ := strconv.ParseFloat(f[1], 64)
			m.MemoryGiB = float64(int(kb/1024/1024*10+0.5)) / 10
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.FdatasyncPS = fdatasyncRate(dir, time.Second)
	return m
}

// fdatasyncRate is how many 8 kB write+fdatasync pairs one writer does per
// second in dir: the floor of a commit's cost (pg_test_fsync's test).
func fdatasyncRate(dir string, d time.Duration) float64 {
	f, err := os.CreateTemp(dir, "fsync-*")
	if err != nil {
		return 0
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 8192)
	start := time.Now()
	n := 0
	for time.Since(start) < d && n < 100000 {
		if _, err := f.WriteAt(buf, 0); err != nil {
			return 0
		}
		if err := fdatasync(f); err != nil {
			return 0
		}
		n++
	}
	return float64(n) / time.Since(start).Seconds()
}

func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
