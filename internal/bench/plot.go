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
