package bench

import (
	"fmt"
	"math"
	"os"
	"slices"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// nines are the x-axis ticks of a latency-by-percentile plot: x is
// 1/(1−q), so each decade adds a nine.
var nines = []plot.Tick{{Value: 1, Label: "0%"}, {Value: 2, Label: "50%"}, {Value: 10, Label: "90%"},
	{Value: 100, Label: "99%"}, {Value: 1000, Label: "99.9%"}, {Value: 10000, Label: "99.99%"}}

type ninesTicks struct{}

func (ninesTicks) Ticks(lo, hi float64) []plot.Tick {
	var out []plot.Tick
	for _, t := range nines {
		if t.Value >= lo*0.999 && t.Value <= hi*1.001 {
			out = append(out, t)
		}
	}
	return out
}

// series is one line of the plot.
type series struct {
	name   string
	lat    []time.Duration
	color  int // plotutil.Color index, the same for a phase in both panels
	dashed bool
}

// writePlot draws latency by percentile: acknowledgements on the left,
// whole links on the right, with pgbench's runs of the same SQL dashed.
func writePlot(rep *Report, path string) error {
	var ack, e2e []series
	for i, p := range rep.Phases {
		if len(p.ackLat) > 0 {
			ack = append(ack, series{name: p.Name, lat: p.ackLat, color: i})
		}
		if len(p.e2eLat) > 0 {
			e2e = append(e2e, series{name: p.Name, lat: p.e2eLat, color: i})
		}
	}
	n := len(rep.Phases)
	if pb := rep.Pgbench[ScriptAck]; pb != nil && len(pb.lat) > 0 {
		ack = append(ack, series{name: fmt.Sprintf("pgbench ack.sql, %d clients", pb.Clients), lat: pb.lat, color: n, dashed: true})
	}
	if pb := rep.Pgbench[ScriptLink]; pb != nil && len(pb.lat) > 0 {
		e2e = append(e2e, series{name: fmt.Sprintf("pgbench whole link, %d clients", pb.Clients), lat: pb.lat, color: n + 1, dashed: true})
	}
	left, err := latencyPlot("Acknowledgement: request → 202", ack)
	if err != nil {
		return err
	}
	right, err := latencyPlot("End to end: 202 → webhook received", e2e)
	if err != nil {
		return err
	}
	img := vgimg.New(vg.Points(1100), vg.Points(460))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Points(20), PadTop: vg.Points(8), PadBottom: vg.Points(8), PadLeft: vg.Points(8), PadRight: vg.Points(8)}
	plots := [][]*plot.Plot{{left, right}}
	canvases := plot.Align(plots, tiles, dc)
	left.Draw(canvases[0][0])
	right.Draw(canvases[0][1])
	return WritePNG(img, path)
}

// WritePNG writes what was drawn on img to path as a PNG.
func WritePNG(img *vgimg.Canvas, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		return err
	}
	return f.Close()
}

func latencyPlot(title string, ss []series) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "percentile"
	p.Y.Label.Text = "latency (ms, log scale)"
	p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, ninesTicks{}
	p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	p.Legend.Top, p.Legend.Left = false, false // bottom right: high percentiles at low latency stay empty
	p.Legend.XOffs, p.Legend.YOffs = -vg.Points(4), vg.Points(4)
	p.Legend.TextStyle.Font.Size = vg.Points(9)
	p.Add(plotter.NewGrid())
	for _, s := range ss {
		sorted := slices.Clone(s.lat)
		slices.Sort(sorted)
		n := float64(len(sorted))
		var xys plotter.XYs
		for _, pt := range CDF(sorted, 200) {
			q := min(pt[1]/100, 1-0.5/n)
			xys = append(xys, plotter.XY{X: 1 / (1 - q), Y: math.Max(pt[0], 0.01)})
		}
		line, err := plotter.NewLine(xys)
		if err != nil {
			return nil, err
		}
		line.Color = plotutil.Color(s.color)
		line.Width = vg.Points(1.5)
		if s.dashed {
			line.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		}
		p.Add(line)
		p.Legend.Add(s.name, line)
	}
	if len(ss) == 0 {
		p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 1, 10, 0.1, 10
	}
	return p, nil
}

// writeBatchPlot draws patients acknowledged per second against the
// POST /links batch size (both axes log), with the ceilings of the same
// run as horizontal lines: pgbench ack.sql, 5 × it (the bulk target), and
// POST /link's acknowledgements (ack-api). false: no bulk phase ran.
func writeBatchPlot(rep *Report, path string) (bool, error) {
	bulks := rep.phases(PhaseBulkAck)
	if len(bulks) == 0 {
		return false, nil
	}
	p := plot.New()
	p.Title.Text = "Bulk acknowledgement: POST /links, serve --role api"
	p.X.Label.Text = "patients per request (log scale)"
	p.Y.Label.Text = "patients acknowledged per second (log scale)"
	p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	p.Legend.Top, p.Legend.Left = false, false // bottom right: the curve rises to the right
	p.Legend.XOffs, p.Legend.YOffs = -vg.Points(4), vg.Points(4)
	p.Legend.TextStyle.Font.Size = vg.Points(9)
	p.Add(plotter.NewGrid())
	bulks = slices.Clone(bulks)
	slices.SortFunc(bulks, func(a, b *PhaseResult) int { return a.Batch - b.Batch })
	var xys plotter.XYs
	var labels []string
	lo, hi := math.Inf(1), math.Inf(-1)
	ylo, yhi := math.Inf(1), math.Inf(-1)
	for _, b := range bulks {
		if v := b.PerPatient.PerSec; v > 0 {
			xys = append(xys, plotter.XY{X: float64(b.Batch), Y: v})
			labels = append(labels, fmt.Sprintf("%.0f/s", v))
			lo, hi = min(lo, float64(b.Batch)), max(hi, float64(b.Batch))
			ylo, yhi = min(ylo, v), max(yhi, v)
		}
	}
	if len(xys) == 0 {
		return false, nil
	}
	lo, hi = lo/2, hi*2
	line, points, err := plotter.NewLinePoints(xys)
	if err != nil {
		return false, err
	}
	line.Color, points.Color = plotutil.Color(0), plotutil.Color(0)
	line.Width = vg.Points(1.5)
	values, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
	if err != nil {
		return false, err
	}
	values.Offset = vg.Point{X: vg.Points(4), Y: vg.Points(4)}
	p.Add(line, points, values)
	p.Legend.Add("POST /links", line, points)
	level := func(name string, y float64, color int) error {
		if y <= 0 {
			return nil
		}
		ylo, yhi = min(ylo, y), max(yhi, y)
		l, err := plotter.NewLine(plotter.XYs{{X: lo, Y: y}, {X: hi, Y: y}})
		if err != nil {
			return err
		}
		l.Color, l.Width, l.Dashes = plotutil.Color(color), vg.Points(1.2), []vg.Length{vg.Points(5), vg.Points(3)}
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("%s (%.0f/s)", name, y), l)
		return nil
	}
	if a := rep.phase(PhaseAckAPI); a != nil {
		if err := level(fmt.Sprintf("POST /link, %d clients", a.Concurrency), a.Ack.PerSec, 1); err != nil {
			return false, err
		}
	}
	if pb := rep.Pgbench[ScriptAck]; pb != nil {
		if err := level("pgbench ack.sql", pb.Latency.PerSec, 2); err != nil {
			return false, err
		}
		if err := level("target: 5 × ack.sql", 5*pb.Latency.PerSec, 3); err != nil {
			return false, err
		}
	}
	p.X.Min, p.X.Max = lo, hi
	p.Y.Min, p.Y.Max = ylo/2, yhi*2
	if err := p.Save(vg.Points(640), vg.Points(420), path); err != nil {
		return false, err
	}
	return true, nil
}
