package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTick is USER_HZ, 100 on every Linux we run on.
const clockTick = 100

// procCPU is a process's CPU time (utime+stime) from /proc/PID/stat, plus
// the time of its reaped children (cutime+cstime) when withChildren.
func procCPU(pid int, withChildren bool) (time.Duration, int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command may contain spaces: fields start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime is field 14 → f[11].
	if len(f) < 15 {
		return 0, 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ppid, _ := strconv.Atoi(f[1])
	var ticks int64
	n := 2
	if withChildren {
		n = 4
	}
	for _, s := range f[11 : 11+n] {
		v, _ := strconv.ParseInt(s, 10, 64)
		ticks += v
	}
	return time.Duration(ticks) * time.Second / clockTick, ppid, nil
}

// procMem reads VmHWM and VmRSS (bytes) from /proc/PID/status.
func procMem(pid int) (hwm, rss int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		for _, k := range []struct {
			prefix string
			dst    *int64
		}{{"VmHWM:", &hwm}, {"VmRSS:", &rss}} {
			if rest, ok := strings.CutPrefix(line, k.prefix); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
				*k.dst = kb * 1024
			}
		}
	}
	return hwm, rss, sc.Err()
}

// postgresCPU is the CPU of a PostgreSQL server: the postmaster with its
// reaped children (exited backends) plus every live child.
func postgresCPU(postmaster int) (time.Duration, error) {
	total, _, err := procCPU(postmaster, true)
	if err != nil {
		return 0, err
	}
	entries, _ := filepath.Glob("/proc/[0-9]*")
	for _, e := range entries {
		pid, err := strconv.Atoi(filepath.Base(e))
		if err != nil || pid == postmaster {
			continue
		}
		cpu, ppid, err := procCPU(pid, false)
		if err == nil && ppid == postmaster {
			total += cpu
		}
	}
	return total, nil
}

// parentPID is a process's parent.
func parentPID(pid int) (int, error) {
	_, ppid, err := procCPU(pid, false)
	return ppid, err
}

// machineCPU reads /proc/stat's first line: busy and total jiffies, and
// iowait separately.
type machineCPU struct{ busy, iowait, total int64 }

func readMachineCPU() machineCPU {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineCPU{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var m machineCPU
	for i, s := range f[1:] {
		v, _ := strconv.ParseInt(s, 10, 64)
		if i >= 8 { // guest time is already in user
			break
		}
		m.total += v
		switch i {
		case 3: // idle
		case 4:
			m.iowait += v
		default:
			m.busy += v
		}
	}
	return m
}

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
