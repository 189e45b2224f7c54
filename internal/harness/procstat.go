package harness

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// What /proc says about processes and the machine, for the benchmark and
// the soak: CPU time, memory, load.

// clockTick is USER_HZ, 100 on every Linux we run on.
const clockTick = 100

// ProcCPU is a process's CPU time (utime+stime) from /proc/PID/stat, plus
// the time of its reaped children (cutime+cstime) when withChildren, and
// its parent's pid.
func ProcCPU(pid int, withChildren bool) (cpu time.Duration, ppid int, err error) {
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
	ppid, _ = strconv.Atoi(f[1])
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

// ProcMem reads VmHWM and VmRSS (bytes) from /proc/PID/status.
func ProcMem(pid int) (hwm, rss int64, err error) {
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

// PostgresCPU is the CPU of a PostgreSQL server: the postmaster with its
// reaped children (exited backends) plus every live child.
func PostgresCPU(postmaster int) (time.Duration, error) {
	total, _, err := ProcCPU(postmaster, true)
	if err != nil {
		return 0, err
	}
	entries, _ := filepath.Glob("/proc/[0-9]*")
	for _, e := range entries {
		pid, err := strconv.Atoi(filepath.Base(e))
		if err != nil || pid == postmaster {
			continue
		}
		cpu, ppid, err := ProcCPU(pid, false)
		if err == nil && ppid == postmaster {
			total += cpu
		}
	}
	return total, nil
}

// MachineCPU is /proc/stat's first line: busy and total jiffies, and
// iowait apart.
type MachineCPU struct{ Busy, IOWait, Total int64 }

// ReadMachineCPU reads the machine's CPU counters; zero when it cannot.
func ReadMachineCPU() MachineCPU {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return MachineCPU{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var m MachineCPU
	for i, s := range f[1:] {
		v, _ := strconv.ParseInt(s, 10, 64)
		if i >= 8 { // guest time is already in user
			break
		}
		m.Total += v
		switch i {
		case 3: // idle
		case 4:
			m.IOWait += v
		default:
			m.Busy += v
		}
	}
	return m
}

// BusyCores is how many cores were busy on average between a and b.
func BusyCores(a, b MachineCPU, cores int) float64 {
	if b.Total <= a.Total {
		return 0
	}
	return float64(b.Busy-a.Busy) / float64(b.Total-a.Total) * float64(cores)
}

// LoadAverage is /proc/loadavg's one-minute figure; 0 when unreadable.
func LoadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}
