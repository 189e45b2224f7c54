package soak

import (
	"maps"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/patientlink/patientlink/internal/bench"
)

// line is one series of a panel: a value per sample.
type line struct {
	name  string
	value func(Sample) float64
}

// panel is one chart of the plot.
type panel struct {
	title, unit string
	log         bool // log scale (latencies)
	lines       []line
	perInterval bool // a figure of the interval before a sample: sample 0 has none
}

// panels are the plot's charts, two a row.
func panels(samples []Sample) []panel {
	names := map[string]bool{}
	for _, s := range samples {
		for k := range s.RSS {
			names[k] = true
		}
	}
	var rss []line
	for _, n := range slices.Sorted(maps.Keys(names)) {
		rss = append(rss, line{n, func(s Sample) float64 { return float64(s.RSS[n]) / (1 << 20) }})
	}
	perSec := func(n func(Sample) int) func(Sample) float64 {
		return func(s Sample) float64 { return float64(n(s)) / max(1, interval(samples)) }
	}
	var jobs []line
	for _, st := range []string{"available", "running", "retryable", "scheduled"} {
		jobs = append(jobs, line{st, func(s Sample) float64 { return float64(s.Jobs[st]) }})
	}
	return []panel{
		{title: "Latency per interval", unit: "ms (log scale)", log: true, perInterval: true, lines: []line{
			{"ack p50", func(s Sample) float64 { return s.AckP50 }}, {"ack p99", func(s Sample) float64 { return s.AckP99 }},
			{"end-to-end p50", func(s Sample) float64 { return s.E2EP50 }}, {"end-to-end p99", func(s Sample) float64 { return s.E2EP99 }},
		}},
		{title: "Throughput", unit: "per second", perInterval: true, lines: []line{
			{"offered", perSec(func(s Sample) int { return s.Offered })}, {"acknowledged", perSec(func(s Sample) int { return s.Acks })},
			{"completed", perSec(func(s Sample) int { return s.Done })}, {"not acknowledged", perSec(func(s Sample) int { return s.Errors })},
		}},
		{title: "RSS per process", unit: "MB", lines: rss},
		{title: "CPU of the machine", unit: "cores", perInterval: true, lines: []line{
			{"machine busy", func(s Sample) float64 { return s.BusyCores }}, {"ours", func(s Sample) float64 { return s.OurCores }},
			{"others", func(s Sample) float64 { return max(0, s.BusyCores-s.OurCores) }},
		}},
		{title: "PostgreSQL size", unit: "MB", lines: []line{
			{"tables", func(s Sample) float64 { return float64(s.TableBytes) / (1 << 20) }},
			{"indexes", func(s Sample) float64 { return float64(s.IndexBytes) / (1 << 20) }},
		}},
		{title: "Dead tuples", unit: "thousands", lines: []line{{"dead tuples", func(s Sample) float64 { return float64(s.DeadTuples) / 1000 }}}},
		{title: "River jobs not finished", unit: "jobs", lines: jobs},
		{title: "PostgreSQL connections (the service's)", unit: "connections", lines: []line{
			{"all", func(s Sample) float64 { return float64(s.ConnsTotal()) }},
			{"active", func(s Sample) float64 { return float64(s.Conns["active"]) }},
			{"idle in transaction", func(s Sample) float64 { return float64(s.Conns["idle in transaction"]) }},
		}},
	}
}

// interval is the seconds between two samples.
func interval(samples []Sample) float64 {
	if len(samples) < 3 {
		return 10
	}
	return samples[2].Elapsed - samples[1].Elapsed
}

// writePlot draws every panel against the minutes of the load.
func writePlot(r *Report, path string) error {
	ps := panels(r.Samples)
	const cols = 2
	rows := (len(ps) + cols - 1) / cols
	grid := make([][]*plot.Plot, rows)
	for i, pn := range ps {
		p := plot.New()
		p.Title.Text = pn.title
		p.X.Label.Text = "minutes into the load"
		p.Y.Label.Text = pn.unit
		p.Legend.Top = true
		p.Legend.TextStyle.Font.Size = vg.Points(8)
		p.Add(plotter.NewGrid())
		if pn.log {
			p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
		}
		for k, l := range pn.lines {
			var xys plotter.XYs
			for i, s := range r.Samples {
				v := l.value(s)
				if (pn.log && v <= 0) || (pn.perInterval && i == 0) {
					continue // no events in the interval, or no interval
				}
				xys = append(xys, plotter.XY{X: s.Elapsed / 60, Y: v})
			}
			if len(xys) == 0 {
				continue
			}
			ln, err := plotter.NewLine(xys)
			if err != nil {
				return err
			}
			ln.Color = plotutil.Color(k)
			ln.Width = vg.Points(1.2)
			p.Add(ln)
			p.Legend.Add(l.name, ln)
		}
		switch {
		case pn.log && !(p.Y.Min > 0 && p.Y.Max > p.Y.Min): // no latency at all: an empty panel
			p.Y.Min, p.Y.Max = 0.1, 10
		case !pn.log:
			p.Y.Min = 0 // growth is read against zero, not magnified
		}
		p.X.Min = 0
		grid[i/cols] = append(grid[i/cols], p)
	}
	for len(grid[rows-1]) < cols {
		grid[rows-1] = append(grid[rows-1], nil)
	}
	img := vgimg.New(vg.Points(1200), vg.Points(float64(300*rows)))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Points(24), PadY: vg.Points(16), PadTop: vg.Points(8), PadBottom: vg.Points(8), PadLeft: vg.Points(8), PadRight: vg.Points(12)}
	canvases := plot.Align(grid, tiles, dc)
	for i := range grid {
		for j, p := range grid[i] {
			if p != nil {
				p.Draw(canvases[i][j])
			}
		}
	}
	return bench.WritePNG(img, path)
}
