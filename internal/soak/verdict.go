package soak

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/patientlink/patientlink/internal/bench"
)

// The pass criteria (docs/reliability.md).
const (
	stallLimit   = 5 * time.Second
	p99Drift     = 1.5  // last window's p99 at most this times the first's
	rssGrowth    = 0.20 // RSS at the end at most this much above warm-up's
	bytesDrift   = 1.5  // second half's bytes per link at most this times the first's
	windowMax    = 5 * time.Minute
	warmUpMax    = 5 * time.Minute
	rssAverageOf = 3 // samples averaged at each end of the RSS comparison
)

// Report is a soak's outcome: what report.md, samples.csv and
// samples.json hold.
type Report struct {
	Started    time.Time           `json:"started"`
	Took       time.Duration       `json:"took_ns"`
	Commit     string              `json:"commit"`
	Options    Options             `json:"options"`
	Cores      int                 `json:"cores"`
	LoadBefore float64             `json:"load1_before"`
	LoadAfter  float64             `json:"load1_after"`
	Peak       float64             `json:"peak_links_per_s"` // 0 when the rate was given
	Rate       float64             `json:"rate_links_per_s"`
	Load       LoadWindow          `json:"load"`
	Samples    []Sample            `json:"samples"`
	Snapshots  []Snapshot          `json:"stall_snapshots"`
	DrainTook  time.Duration       `json:"drain_ns"`
	Drained    bool                `json:"drained"`
	Final      Final               `json:"final"`
	Receiver   bench.ReceiverStats `json:"receiver"`
	Figures    Figures             `json:"figures"`
	Criteria   []Criterion         `json:"criteria"`
}

// Figures are the run's summary numbers.
type Figures struct {
	Offered, Acked, Completed int
	Errors                    map[string]int
	Ack, E2E                  bench.Summary // over the whole load
	Window                    time.Duration // of the p99 comparison
	AckP99First, AckP99Last   float64       // ms
	E2EP99First, E2EP99Last   float64
	AckGap, DoneGap           Gap
	WarmUp                    time.Duration
	RSSWarm, RSSEnd           map[string]int64
	BytesStart, BytesMid      int64 // tables and indexes
	BytesEnd                  int64
	PerLinkFirst              float64 // bytes per completed link, first half of the load
	PerLinkSecond             float64
	BusyCores, OurCores       float64 // averages over the samples
}

// Gap is the longest time without an event of a kind during the load.
type Gap struct {
	From    time.Time     `json:"from"`
	Length  time.Duration `json:"length_ns"`
	Samples []Snapshot    `json:"snapshots,omitempty"` // taken during it
}

// Criterion is one pass criterion and how the run met it.
type Criterion struct {
	Name string `json:"name"`
	Want string `json:"want"`
	Got  string `json:"got"`
	Pass bool   `json:"pass"`
}

// Passed reports whether every criterion was met.
func (r *Report) Passed() bool {
	return len(r.Criteria) > 0 && !slices.ContainsFunc(r.Criteria, func(c Criterion) bool { return !c.Pass })
}

func (r *Report) criterion(name, want string, pass bool, got string, args ...any) {
	r.Criteria = append(r.Criteria, Criterion{Name: name, Want: want, Got: fmt.Sprintf(got, args...), Pass: pass})
}

// judge computes the figures and the criteria.
func (r *Report) judge(t *tracker, o Options) {
	f := &r.Figures
	t.mu.Lock()
	acks, dones, errs, offered := slices.Clone(t.acks), slices.Clone(t.dones), maps.Clone(t.errors), t.offered
	t.mu.Unlock()
	f.Offered, f.Acked, f.Completed, f.Errors = offered, len(acks), len(dones), errs
	f.Ack, f.E2E = summarize(acks, o.Duration), summarize(dones, o.Duration)
	start, end := r.Load.Start, r.Load.End

	f.AckGap, f.DoneGap = longestGap(acks, start, end), longestGap(dones, start, end)
	for _, g := range []*Gap{&f.AckGap, &f.DoneGap} {
		for _, s := range r.Snapshots {
			if !s.At.Before(g.From) && !s.At.After(g.From.Add(g.Length)) {
				g.Samples = append(g.Samples, s)
			}
		}
	}
	r.criterion("no stall", fmt.Sprintf("no %s without an acknowledgement or a completion while the load runs", stallLimit),
		f.AckGap.Length <= stallLimit && f.DoneGap.Length <= stallLimit,
		"longest without an acknowledgement %s, without a completion %s", f.AckGap.Length.Round(time.Millisecond), f.DoneGap.Length.Round(time.Millisecond))

	f.Window = min(windowMax, o.Duration/3)
	f.AckP99First, f.AckP99Last = p99In(acks, start, start.Add(f.Window)), p99In(acks, end.Add(-f.Window), end)
	f.E2EP99First, f.E2EP99Last = p99In(dones, start, start.Add(f.Window)), p99In(dones, end.Add(-f.Window), end)
	r.criterion("p99 steady", fmt.Sprintf("p99 of the last %s ≤ %.1f × the first %s's", f.Window, p99Drift, f.Window),
		f.AckP99Last <= p99Drift*f.AckP99First && f.E2EP99Last <= p99Drift*f.E2EP99First,
		"acknowledgement %.1f → %.1f ms (×%.2f), end to end %.1f → %.1f ms (×%.2f)",
		f.AckP99First, f.AckP99Last, ratio(f.AckP99Last, f.AckP99First), f.E2EP99First, f.E2EP99Last, ratio(f.E2EP99Last, f.E2EP99First))

	f.WarmUp = min(warmUpMax, o.Duration/6)
	f.RSSWarm, f.RSSEnd = rssAround(r.Samples, f.WarmUp.Seconds()), rssAround(r.Samples, -1)
	worst, worstName := 0.0, ""
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(f.RSSEnd)) {
		g := 1.0 // no figure at warm-up: fail rather than guess
		if w := f.RSSWarm[name]; w > 0 {
			g = float64(f.RSSEnd[name])/float64(w) - 1
		}
		parts = append(parts, fmt.Sprintf("%s %s → %s (%+.0f%%)", name, mb(f.RSSWarm[name]), mb(f.RSSEnd[name]), 100*g))
		if strings.HasPrefix(name, "index-sim") { // the simulator is not the service
			continue
		}
		if g > worst || worstName == "" {
			worst, worstName = g, name
		}
	}
	r.criterion("RSS steady", fmt.Sprintf("each service process's RSS at the end < %.0f%% above its RSS at %s", 100*rssGrowth, f.WarmUp),
		worstName != "" && worst < rssGrowth, "%s", strings.Join(parts, "; "))

	f.BytesStart, f.BytesMid, f.BytesEnd, f.PerLinkFirst, f.PerLinkSecond = tableGrowth(r.Samples)
	r.criterion("tables grow with the work", fmt.Sprintf("bytes per completed link in the second half ≤ %.1f × the first half's", bytesDrift),
		f.PerLinkFirst > 0 && f.PerLinkSecond <= bytesDrift*f.PerLinkFirst,
		"%s → %s → %s: %.0f then %.0f bytes per link (×%.2f)", mb(f.BytesStart), mb(f.BytesMid), mb(f.BytesEnd),
		f.PerLinkFirst, f.PerLinkSecond, ratio(f.PerLinkSecond, f.PerLinkFirst))

	completed := r.Final.ByStatus["COMPLETED"]
	r.criterion("every acknowledged link COMPLETED", "after the drain, every acknowledged link's workflow COMPLETED",
		r.Final.Acknowledged > 0 && completed == r.Final.Acknowledged && r.Final.Missing == 0,
		"%d of %d COMPLETED (%s), %d missing; drained in %s", completed, r.Final.Acknowledged, statusList(r.Final.ByStatus), r.Final.Missing, r.DrainTook.Round(time.Second))

	for _, s := range r.Samples {
		f.BusyCores += s.BusyCores / float64(len(r.Samples))
		f.OurCores += s.OurCores / float64(len(r.Samples))
	}
}

func summarize(events []event, d time.Duration) bench.Summary {
	lat := make([]time.Duration, len(events))
	for i, e := range events {
		lat[i] = e.lat
	}
	return bench.Summarize(lat, len(lat), d)
}

// longestGap is the longest time in [from, to] without an event.
func longestGap(events []event, from, to time.Time) Gap {
	times := make([]time.Time, 0, len(events)+2)
	times = append(times, from)
	for _, e := range events {
		if e.at.After(from) && e.at.Before(to) {
			times = append(times, e.at)
		}
	}
	times = append(times, to)
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	var g Gap
	for i := 1; i < len(times); i++ {
		if d := times[i].Sub(times[i-1]); d > g.Length {
			g = Gap{From: times[i-1], Length: d}
		}
	}
	return g
}

// p99In is the p99 (ms) of the events in [from, to).
func p99In(events []event, from, to time.Time) float64 {
	var in []event
	for _, e := range events {
		if !e.at.Before(from) && e.at.Before(to) {
			in = append(in, e)
		}
	}
	_, p99 := percentiles(in)
	return p99
}

// rssAround is each process's RSS averaged over the rssAverageOf samples
// nearest elapsed seconds (< 0: the last ones).
func rssAround(samples []Sample, elapsed float64) map[string]int64 {
	if len(samples) == 0 {
		return map[string]int64{}
	}
	idx := len(samples) - 1
	if elapsed >= 0 {
		for i, s := range samples {
			if abs(s.Elapsed-elapsed) < abs(samples[idx].Elapsed-elapsed) {
				idx = i
			}
		}
	}
	lo := max(0, min(idx-rssAverageOf/2, len(samples)-rssAverageOf))
	hi := min(len(samples), lo+rssAverageOf)
	sums, counts := map[string]int64{}, map[string]int64{}
	for _, s := range samples[lo:hi] {
		for k, v := range s.RSS {
			sums[k] += v
			counts[k]++
		}
	}
	for k := range sums {
		sums[k] /= counts[k]
	}
	return sums
}

// tableGrowth is the tables' and indexes' bytes at the load's start,
// middle and end, and the bytes per completed link over each half; a
// sample without PostgreSQL's figures is not one of the three.
func tableGrowth(samples []Sample) (start, mid, end int64, first, second float64) {
	var read []int // samples with PostgreSQL's figures
	for i, s := range samples {
		if s.DBError == "" {
			read = append(read, i)
		}
	}
	if len(read) < 3 {
		return 0, 0, 0, 0, 0
	}
	a, m, z := read[0], read[len(read)/2], read[len(read)-1]
	size := func(i int) int64 { return samples[i].TableBytes + samples[i].IndexBytes }
	done := func(from, to int) (n int) { // completions after sample from, up to sample to
		for _, s := range samples[from+1 : to+1] {
			n += s.Done
		}
		return n
	}
	start, mid, end = size(a), size(m), size(z)
	if n := done(a, m); n > 0 {
		first = float64(mid-start) / float64(n)
	}
	if n := done(m, z); n > 0 {
		second = float64(end-mid) / float64(n)
	}
	return start, mid, end, first, second
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func abs(f float64) float64 { return max(f, -f) }

func statusList(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
