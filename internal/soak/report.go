package soak

import (
	"cmp"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// jobStates are River's job states, in the CSV's order.
var jobStates = []string{"available", "running", "retryable", "scheduled", "pending", "completed", "cancelled", "discarded"}

// write writes the markdown report, samples.csv, samples.json and soak.png.
func (r *Report) write(o Options) error {
	var md strings.Builder
	r.Markdown(&md)
	if err := os.WriteFile(o.Report, []byte(md.String()), 0o644); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(o.OutDir, "samples.csv"))
	if err != nil {
		return err
	}
	defer f.Close()
	if err := writeCSV(f, r.Samples); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(o.OutDir, "samples.json"), js, 0o644); err != nil {
		return err
	}
	return writePlot(r, filepath.Join(o.OutDir, "soak.png"))
}

// writeCSV writes one row per sample.
func writeCSV(w io.Writer, samples []Sample) error {
	names := map[string]bool{}
	for _, s := range samples {
		for k := range s.RSS {
			names[k] = true
		}
	}
	procs := slices.Sorted(maps.Keys(names))
	head := []string{"elapsed_s", "offered", "acks", "completed", "errors", "ack_p50_ms", "ack_p99_ms", "e2e_p50_ms", "e2e_p99_ms"}
	for _, p := range procs {
		head = append(head, "rss_"+p+"_mb")
	}
	head = append(head, "pg_connections", "pg_active", "pg_idle_in_transaction", "table_mb", "index_mb", "dead_tuples")
	for _, st := range jobStates {
		head = append(head, "jobs_"+st)
	}
	head = append(head, "busy_cores", "our_cores", "load1")
	cw := csv.NewWriter(w)
	if err := cw.Write(head); err != nil {
		return err
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	i := func(v int) string { return strconv.Itoa(v) }
	for _, s := range samples {
		row := []string{f(round(s.Elapsed, 1)), i(s.Offered), i(s.Acks), i(s.Done), i(s.Errors), f(s.AckP50), f(s.AckP99), f(s.E2EP50), f(s.E2EP99)}
		for _, p := range procs {
			row = append(row, f(round(float64(s.RSS[p])/(1<<20), 1)))
		}
		row = append(row, i(s.ConnsTotal()), i(s.Conns["active"]), i(s.Conns["idle in transaction"]),
			f(round(float64(s.TableBytes)/(1<<20), 2)), f(round(float64(s.IndexBytes)/(1<<20), 2)), strconv.FormatInt(s.DeadTuples, 10))
		for _, st := range jobStates {
			row = append(row, i(s.Jobs[st]))
		}
		row = append(row, f(round(s.BusyCores, 2)), f(round(s.OurCores, 2)), f(s.Load1))
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func round(v float64, places int) float64 {
	p := 1.0
	for range places {
		p *= 10
	}
	return float64(int64(v*p+0.5)) / p
}

// Markdown writes the report.
func (r *Report) Markdown(w io.Writer) {
	o, f := r.Options, r.Figures
	result := "PASS"
	if !r.Passed() {
		result = "FAIL"
	}
	fmt.Fprintf(w, "# Soak, %s UTC: %s\n\n", r.Started.Format("2006-01-02 15:04"), result)
	fmt.Fprintf(w, "Commit %s; %d cores, shared with other work (load average %.2f before, %.2f after); took %s.\n\n",
		r.Commit, r.Cores, r.LoadBefore, r.LoadAfter, r.Took.Round(time.Second))
	fmt.Fprintf(w, "2 × `serve --role api`, 2 × `serve --role worker`, PostgreSQL on 127.0.0.1:%d, the index simulator failing %.0f%% of searches, a receiver failing %.0f%% of deliveries; %d customers.\n",
		o.PGPort, 100*o.IndexErrorRate, 100*o.WebhookFailRate, o.Customers)
	if r.Peak > 0 {
		fmt.Fprintf(w, "Peak: %.1f links/s end to end (%d clients in a closed loop to the webhook, %s); the soak offered half, **%.1f links/s, for %s**.\n\n",
			r.Peak, o.PeakClients, o.PeakFor, r.Rate, o.Duration)
	} else {
		fmt.Fprintf(w, "Rate given: **%.1f links/s for %s** (no peak measured).\n\n", r.Rate, o.Duration)
	}
	fmt.Fprintln(w, "| criterion | want | got | result |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, c := range r.Criteria {
		pass := "PASS"
		if !c.Pass {
			pass = "**FAIL**"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", c.Name, c.Want, c.Got, pass)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| figure | value |")
	fmt.Fprintln(w, "|---|---|")
	row := func(k, format string, args ...any) { fmt.Fprintf(w, "| %s | %s |\n", k, fmt.Sprintf(format, args...)) }
	row("requests offered / acknowledged / completed (webhook)", "%d / %d / %d", f.Offered, f.Acked, f.Completed)
	row("requests not acknowledged", "%s", countList(f.Errors))
	row("acknowledgement p50 / p99 / max", "%.1f / %.1f / %.0f ms", f.Ack.P50MS, f.Ack.P99MS, f.Ack.MaxMS)
	row("end to end (202 → webhook) p50 / p99 / max", "%.1f / %.1f / %.0f ms", f.E2E.P50MS, f.E2E.P99MS, f.E2E.MaxMS)
	row("receiver (the peak's included)", "%d notifications, %d deliveries failed on purpose, %d duplicates", r.Receiver.Received, r.Receiver.Failed, r.Receiver.Duplicates)
	row("drain after the load", "%s", r.DrainTook.Round(100*time.Millisecond))
	row("CPU (average over samples)", "%.2f of %d cores busy; ours (service, PostgreSQL, simulator, soak) %.2f; others %.2f",
		f.BusyCores, r.Cores, f.OurCores, max(0, f.BusyCores-f.OurCores))
	if n := len(r.Samples); n > 0 {
		last := r.Samples[n-1]
		row("PostgreSQL at the end", "%d connections (%s), tables %s + indexes %s, %d dead tuples", last.ConnsTotal(), countList(last.Conns),
			mb(last.TableBytes), mb(last.IndexBytes), last.DeadTuples)
		row("River jobs at the end", "%s", countList(last.Jobs))
		row("largest tables at the end", "%s", largest(last.Tables, 5))
	}
	fmt.Fprintln(w)
	for _, g := range []struct {
		what string
		gap  Gap
	}{{"an acknowledgement", f.AckGap}, {"a completion", f.DoneGap}} {
		fmt.Fprintf(w, "- Longest without %s: %s, from %s into the load.\n", g.what, g.gap.Length.Round(time.Millisecond), clock(g.gap.From.Sub(r.Load.Start).Seconds()))
		for _, s := range g.gap.Samples {
			fmt.Fprintf(w, "  - at %s: River %s; busy backends:\n", clock(s.At.Sub(r.Load.Start).Seconds()), countList(s.Jobs))
			for _, b := range s.Activity {
				fmt.Fprintf(w, "    - %s %s %s, transaction %.1fs: `%s`\n", b.App, b.State, b.Wait, b.XactAge, strings.Join(strings.Fields(b.Query), " "))
			}
		}
	}
	if len(r.Snapshots) > 0 {
		fmt.Fprintf(w, "- %d snapshot(s) of pg_stat_activity were taken after %s without an event (samples.json has them all).\n", len(r.Snapshots), watchAfter)
	}
	fmt.Fprintln(w, "\nFiles: `samples.csv` (one row per sample), `samples.json` (everything), `soak.png`, `logs/`.")
}

func countList(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	return statusList(m)
}

// largest lists the n largest tables (with their indexes).
func largest(tables map[string]Rel, n int) string {
	names := slices.Collect(maps.Keys(tables))
	size := func(k string) int64 { return tables[k].TableBytes + tables[k].IndexBytes }
	slices.SortFunc(names, func(a, b string) int { return cmp.Compare(size(b), size(a)) })
	var parts []string
	for _, k := range names[:min(n, len(names))] {
		parts = append(parts, fmt.Sprintf("%s %s", k, mb(size(k))))
	}
	return strings.Join(parts, ", ")
}
