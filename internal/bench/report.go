package bench

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"
)

// printReport writes the run's tables.
func printReport(out io.Writer, rep *Report) {
	m := rep.Machine
	fmt.Fprintf(out, "\npatientlink benchmark — %s profile, commit %s, %s, %.0fs\n", rep.Options.Profile, rep.Commit, rep.Go, rep.Seconds)
	fmt.Fprintf(out, "machine: %d CPUs (%s), %.1f GiB, fdatasync %.0f/s; PostgreSQL %s, shared_buffers %s, synchronous_commit %s, wal_sync_method %s\n",
		m.CPUs, m.CPUModel, m.MemoryGiB, m.FdatasyncPS, rep.Postgres["server_version"], rep.Postgres["shared_buffers"],
		rep.Postgres["synchronous_commit"], rep.Postgres["wal_sync_method"])
	fmt.Fprintf(out, "results: %s\n", rep.Dir)

	fmt.Fprintf(out, "\nThroughput and latency (ms; warm-up excluded; e2e = 202 → webhook received, done = RECEIVED → COMPLETED events)\n")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\tload\tack/s\tp50\tp95\tp99\tmax\twebhooks/s\te2e p50\tp95\tp99\tmax\tdone p50\tdone p99\terrors\t")
	for _, p := range rep.Phases {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", p.Name, load(p),
			rate(p.Ack.PerSec, p.Ack.Count), f1(p.Ack.P50MS), f1(p.Ack.P95MS), f1(p.Ack.P99MS), f1(p.Ack.MaxMS),
			rate(p.E2E.PerSec, p.E2E.Count), f1(p.E2E.P50MS), f1(p.E2E.P95MS), f1(p.E2E.P99MS), f1(p.E2E.MaxMS),
			f1(p.E2EDone.P50MS), f1(p.E2EDone.P99MS), errorsOf(p))
	}
	tw.Flush()

	fmt.Fprintf(out, "\nPer patient (unit: ack = an acknowledgement, latency per request, a POST /links of many patients is one; link = a whole link, latency 202 → webhook; RSS = VmHWM)\n")
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\tload\tunit\tpatients/s\tp50\tp99\ttx\tWAL flushes\tpostgres CPU ms\tserve CPU ms\tserve RSS MB\t")
	for _, p := range rep.Phases {
		c := p.PerPatient
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t\n", p.Name, load(p), c.Unit, rate(c.PerSec, c.Count),
			f1(c.P50MS), f1(c.P99MS), num(c.Tx), num(c.WALSyncs), num(c.PostgresCPUMS), num(c.ServeCPUMS), c.ServeRSSMB)
	}
	tw.Flush()

	fmt.Fprintf(out, "\nResources while measuring (CPU in cores of %d) and what PostgreSQL's backends did\n", m.CPUs)
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\tserve\tpostgres\tindex-sim\tharness\tother\tbusy\tiowait\ttop waits (backends)\t")
	for _, p := range rep.Phases {
		res := p.Resources
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.0f%%\t%.0f%%\t%s\t\n", p.Name,
			res.Cores["serve"], res.Cores["postgres"], res.Cores["index-sim"], res.Cores["harness"], res.Cores["other"], 100*res.MachineBusy, 100*res.IOWait,
			topWaits(p.Waits, 3))
	}
	tw.Flush()

	if len(rep.Pgbench) > 0 {
		fmt.Fprintf(out, "\nCeiling: pgbench -M prepared replaying the SQL (sealed payload %d B; River's insert NOTIFY on %d%% of ack.sql's inserts, %d%% of the whole link's, as measured)\n",
			rep.PayloadBytes, rep.NotifyPct[ScriptAck], rep.NotifyPct[ScriptLink])
		tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "script\tclients\truns/s\tp50\tp95\tp99\tmax\ttx/run\tpostgres\tbusy\tfailed\ttop waits (backends)\t")
		for _, name := range []string{ScriptAck, ScriptLink} {
			pb := rep.Pgbench[name]
			if pb == nil {
				continue
			}
			label := "ack.sql"
			if name == ScriptLink {
				label = "ack.sql+link_worker.sql"
			}
			fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\t%s\t%s\t%s\t%.1f\t%.2f\t%.0f%%\t%d\t%s\t\n", label, pb.Clients, pb.Latency.PerSec,
				f1(pb.Latency.P50MS), f1(pb.Latency.P95MS), f1(pb.Latency.P99MS), f1(pb.Latency.MaxMS), pb.TxPerRun,
				pb.Resources.Cores["postgres"], 100*pb.Resources.MachineBusy, pb.Failed, topWaits(pb.Waits, 3))
		}
		tw.Flush()
	}

	if len(rep.Ratios) > 0 {
		fmt.Fprintf(out, "\nOurs ÷ ceiling\n")
		tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		for _, r := range rep.Ratios {
			fmt.Fprintf(tw, "  %s\t%s / %s\t= %.2f\n", r.What, num(r.Ours), num(r.Ceiling), r.Ratio)
		}
		tw.Flush()
	}
	if len(rep.Targets) > 0 {
		fmt.Fprintf(out, "\nTargets (issue 17; ratios to pgbench ack.sql of this run)\n")
		tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		for _, t := range rep.Targets {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", t.Goal, t.Got, t.Status)
		}
		tw.Flush()
	}

	if len(rep.Sweep) > 0 {
		fmt.Fprintf(out, "\nSettings sweep: whole links, %d clients each waiting for its webhook (first row: the defaults)\n", rep.Options.E2EConcurrency)
		tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "settings\tlinks/s\te2e p50\te2e p99\tack p99\tserve\tpostgres\tother\tserve ms/link\tRSS MB\ttx/link\terrors\t")
		for _, p := range rep.Sweep {
			fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%.2f\t%.2f\t%.2f\t%s\t%.0f\t%.1f\t%s\t\n", p.Settings.Label(), p.E2E.PerSec,
				f1(p.E2E.P50MS), f1(p.E2E.P99MS), f1(p.Ack.P99MS), p.Resources.Cores["serve"], p.Resources.Cores["postgres"], p.Resources.Cores["other"],
				f1(p.PerPatient.ServeCPUMS), p.PerPatient.ServeRSSMB, p.PerPatient.Tx, errorsOf(p))
		}
		tw.Flush()
	}

	if len(rep.AckSteps) > 0 {
		fmt.Fprintf(out, "\nGo steps of one acknowledgement, in process (outside the database)\n")
		tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "step\tµs/op\tallocs/op\tB/op\t")
		for _, s := range rep.AckSteps {
			fmt.Fprintf(tw, "%s\t%.1f\t%.0f\t%.0f\t\n", s.Step, s.NsPerOp/1000, s.AllocsPerOp, s.BytesPerOp)
		}
		tw.Flush()
	}
	for _, id := range []Phase{PhaseAckAPI, PhaseOpenAPI, PhaseBulkAck, PhaseE2E, PhaseBulkE2E} {
		for _, p := range rep.Phases {
			if p.ID != id || len(p.Statements) == 0 {
				continue
			}
			fmt.Fprintf(out, "\nStatements of %q (pg_stat_statements; per link = calls ÷ %d links)\n", p.Name, p.Links)
			writeStatements(out, p.Statements, 12)
		}
	}
	var profiled bool
	for _, p := range rep.Phases {
		if p.CPUTop == nil {
			continue
		}
		if !profiled {
			fmt.Fprintf(out, "\nWhere serve's CPU goes (CPU profiles: share of samples; the files cpu-<phase>.top.txt and .cum.txt have the rest)\n")
			profiled = true
		}
		fmt.Fprintf(out, "  %s\n    most samples of their own: %s\n    our functions, with what they call: %s\n", p.Name, profileLine(p.CPUTop.Flat, false), profileLine(p.CPUTop.Ours, true))
	}
	if len(rep.Notes) > 0 {
		fmt.Fprintf(out, "\nNotes\n")
		for _, n := range rep.Notes {
			fmt.Fprintf(out, "  - %s\n", n)
		}
	}
	fmt.Fprintln(out)
}

func profileLine(ls []ProfileLine, cum bool) string {
	var parts []string
	for _, l := range ls {
		v := l.FlatPct
		if cum {
			v = l.CumPct
		}
		parts = append(parts, fmt.Sprintf("%s %.0f%%", strings.TrimPrefix(l.Func, "github.com/patientlink/patientlink/"), v))
	}
	if len(parts) == 0 {
		return "–"
	}
	return strings.Join(parts, ", ")
}

// writeStatements writes the first n statements as a table.
func writeStatements(out io.Writer, stmts []StatementStat, n int) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "statement\tper link\tmean ms\tmax ms\tshare of exec time\t")
	for i, st := range stmts {
		if i == n {
			break
		}
		fmt.Fprintf(tw, "%s\t%.2f\t%.3f\t%.1f\t%.0f%%\t\n", st.Name, st.PerLink, st.MeanMS, st.MaxMS, 100*st.ShareExec)
	}
	tw.Flush()
}

func load(p *PhaseResult) string {
	batch := ""
	if p.Batch > 0 {
		batch = fmt.Sprintf(" ×%d", p.Batch)
	}
	switch p.Mode {
	case "open":
		return fmt.Sprintf("%.0f/s open", p.Rate)
	case "e2e":
		return fmt.Sprintf("C=%d%s e2e", p.Concurrency, batch)
	case "drain":
		return "backlog"
	}
	return fmt.Sprintf("C=%d%s", p.Concurrency, batch)
}

func rate(perSec float64, count int) string {
	if count == 0 && perSec == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f", perSec)
}

func f1(v float64) string {
	if v == 0 {
		return "–"
	}
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

// num shows a cost with three significant digits or so: a bulk request's
// share of a transaction is 0.001 per patient, a sweep's rate 170.
func num(v float64) string {
	switch a := math.Abs(v); {
	case v == 0:
		return "0"
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.3f", v)
}

func errorsOf(p *PhaseResult) string {
	all := Counts{}
	for k, v := range p.AckErrors {
		all[k] += v
	}
	for k, v := range p.E2EErrors {
		all[k] += v
	}
	if len(all) == 0 {
		return "0"
	}
	total := float64(max(p.Requests, 1))
	var parts []string
	for _, k := range all.Sorted() {
		parts = append(parts, fmt.Sprintf("%s %.2f%%", k, 100*float64(all[k])/total))
	}
	return strings.Join(parts, ", ")
}

func topWaits(w []WaitShare, n int) string {
	w = append([]WaitShare{}, w...)
	sort.SliceStable(w, func(i, j int) bool { return w[i].Backends > w[j].Backends })
	var parts []string
	for i, s := range w {
		if i == n {
			break
		}
		parts = append(parts, fmt.Sprintf("%s %.1f", strings.TrimPrefix(s.What, "active: "), s.Backends))
	}
	if len(parts) == 0 {
		return "–"
	}
	return strings.Join(parts, "; ")
}
