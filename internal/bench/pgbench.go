package bench

import (
	"bufio"
	"bytes"
	"context"
	"embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/patientlink/patientlink/internal/harness"
)

// The SQL a link costs, for pgbench: ack.sql is the acknowledgement alone;
// ack.sql followed by link_worker.sql is every transaction of a link's life.
//
//go:embed pgbench/*.sql
var pgbenchScripts embed.FS

// Script names.
const (
	ScriptAck  = "ack"
	ScriptLink = "link"
)

func pgbenchScript(name string) ([]byte, error) {
	ack, err := pgbenchScripts.ReadFile("pgbench/ack.sql")
	if err != nil {
		return nil, err
	}
	if name == ScriptAck {
		return ack, nil
	}
	worker, err := pgbenchScripts.ReadFile("pgbench/link_worker.sql")
	if err != nil {
		return nil, err
	}
	return append(append(ack, '\n'), worker...), nil
}

// PgbenchResult is one pgbench run.
type PgbenchResult struct {
	Script      string             `json:"script"`
	Clients     int                `json:"clients"`
	Vars        map[string]string  `json:"vars"`
	Window      float64            `json:"window_s"`
	Latency     Summary            `json:"latency"` // per script run (one ack, or one whole link)
	ReportedTPS float64            `json:"reported_tps"`
	Failed      int                `json:"failed"`
	Statements  []PgbenchStatement `json:"statements"`
	Resources   Resources          `json:"resources"`
	DB          dbStats            `json:"db_delta"`
	TxPerRun    float64            `json:"tx_per_run"`
	Waits       []WaitShare        `json:"waits"`

	lat []time.Duration
}

// PgbenchStatement is pgbench's average latency of one statement (-r).
type PgbenchStatement struct {
	MS  float64 `json:"ms"`
	SQL string  `json:"sql"`
}

var (
	reTPS       = regexp.MustCompile(`(?m)^tps = ([\d.]+)`)
	reFailed    = regexp.MustCompile(`(?m)^number of failed transactions: (\d+)`)
	reStatement = regexp.MustCompile(`^\s+([\d.]+)\s+(\d+)\s+(.*)$`)
)

// runPgbench runs script at clients for warmup+duration and measures the
// window after warmup from pgbench's per-transaction log.
func runPgbench(ctx context.Context, bin, url, dir, script string, clients int, warmup, duration time.Duration, vars map[string]string) (PgbenchResult, error) {
	res := PgbenchResult{Script: script, Clients: clients, Vars: vars}
	text, err := pgbenchScript(script)
	if err != nil {
		return res, err
	}
	file := filepath.Join(dir, "pgbench-"+script+".sql")
	if err := os.WriteFile(file, text, 0o644); err != nil {
		return res, err
	}
	logPrefix := filepath.Join(dir, "pgbench-"+script+"-log")
	old, _ := filepath.Glob(logPrefix + ".*")
	for _, f := range old {
		os.Remove(f)
	}
	secs := int((warmup + duration + time.Second - 1) / time.Second)
	args := []string{"-n", "-M", "prepared", "-c", strconv.Itoa(clients), "-j", strconv.Itoa(min(clients, 2)),
		"-T", strconv.Itoa(secs), "-r", "-l", "--log-prefix", logPrefix, "-f", file}
	for k, v := range vars {
		args = append(args, "-D", k+"="+v)
	}
	args = append(args, url)
	cctx, cancel := context.WithTimeout(ctx, time.Duration(secs+60)*time.Second)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(cctx, bin, args...).CombinedOutput()
	_ = os.WriteFile(filepath.Join(dir, "pgbench-"+script+".out"), out, 0o644)
	if err != nil {
		return res, fmt.Errorf("pgbench %s: %w\n%s", script, err, harness.Tail(string(out), 15))
	}
	if m := reTPS.FindSubmatch(out); m != nil {
		res.ReportedTPS, _ = strconv.ParseFloat(string(m[1]), 64)
	}
	if m := reFailed.FindSubmatch(out); m != nil {
		res.Failed, _ = strconv.Atoi(string(m[1]))
	}
	inStatements := false
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "statement latencies") {
			inStatements = true
			continue
		}
		if !inStatements {
			continue
		}
		m := reStatement.FindStringSubmatch(line)
		if m == nil {
			break
		}
		if strings.HasPrefix(m[3], `\`) {
			continue
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		res.Statements = append(res.Statements, PgbenchStatement{MS: v, SQL: m[3]})
	}
	from, to := start.Add(warmup), start.Add(warmup+duration)
	lat, done, err := readPgbenchLogs(logPrefix, from, to)
	if err != nil {
		return res, err
	}
	res.Window = duration.Seconds()
	res.Latency = Summarize(lat, done, duration)
	res.lat = lat
	return res, nil
}

// readPgbenchLogs reads pgbench -l logs ("client tx time_us script epoch
// epoch_us"): latencies of transactions that ended inside [from, to].
func readPgbenchLogs(prefix string, from, to time.Time) ([]time.Duration, int, error) {
	files, err := filepath.Glob(prefix + ".*")
	if err != nil || len(files) == 0 {
		return nil, 0, fmt.Errorf("no pgbench log at %s.*", prefix)
	}
	var lat []time.Duration
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, 0, err
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 6 {
				continue
			}
			us, _ := strconv.ParseInt(fields[2], 10, 64)
			sec, _ := strconv.ParseInt(fields[4], 10, 64)
			usec, _ := strconv.ParseInt(fields[5], 10, 64)
			end := time.Unix(sec, usec*1000)
			if end.Before(from) || end.After(to) {
				continue
			}
			lat = append(lat, time.Duration(us)*time.Microsecond)
		}
	}
	return lat, len(lat), nil
}
