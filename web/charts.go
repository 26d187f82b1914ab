package web

import (
	"fmt"
	"math"
	"time"
)

// Chart geometry, in SVG user units; the charts scale to their box.
const (
	chartW      = 960
	barLabelW   = 220
	barRowH     = 26
	barH        = 16
	barTop      = 8
	colChartH   = 240
	colTop      = 16
	colBottom   = 40
	colLeft     = 64
	colRight    = 12
	maxBarsRows = 12
)

// A barChart is horizontal bars with labels, a value and, optionally, a
// marker (a workload's baseline) on each.
type barChart struct {
	Label  string // aria-label
	W, H   int
	LabelX int
	Rows   []barRow
	Empty  bool
	Note   string
}

type barRow struct {
	Y, TextY    float64
	Label, Link string
	X, BarW     float64
	Class       string
	Value       string
	ValueX      float64
	Mark        bool
	MarkX       float64
	Title       string
}

// A barItem is one bar: its value, an optional marker value and how to
// show it.
type barItem struct {
	Label, Link, Class, Value, Title string
	V, Mark                          float64
	HasMark                          bool
}

func bars(label string, items []barItem) barChart {
	b := barChart{Label: label, W: chartW, LabelX: barLabelW - 10}
	if len(items) == 0 {
		b.Empty, b.H = true, 40
		return b
	}
	if len(items) > maxBarsRows {
		b.Note = fmt.Sprintf("%d more not shown.", len(items)-maxBarsRows)
		items = items[:maxBarsRows]
	}
	most := 0.0
	for _, it := range items {
		most = math.Max(most, math.Max(it.V, it.Mark))
	}
	if most <= 0 {
		most = 1
	}
	plotW := float64(chartW - barLabelW - 170)
	for i, it := range items {
		y := float64(barTop + i*barRowH)
		w := it.V / most * plotW
		class := it.Class
		if class == "" {
			class = "c-bar"
		}
		r := barRow{Y: y, TextY: y + barH - 3, Label: clip(it.Label, 30), Link: it.Link, X: barLabelW, BarW: math.Max(w, 0.5),
			Class: class, Value: it.Value, ValueX: barLabelW + w + 6, Title: it.Title}
		if it.HasMark {
			r.Mark, r.MarkX = true, barLabelW+it.Mark/most*plotW
			r.ValueX = math.Max(r.ValueX, r.MarkX+6)
		}
		b.Rows = append(b.Rows, r)
	}
	b.H = barTop + len(items)*barRowH + 4
	return b
}

// A columnChart is one column per day.
type columnChart struct {
	Label        string
	W, H         int
	Empty        bool
	Grid         []gridLine
	Cols         []column
	Labels       []colLabel
	PlotL, PlotR float64
	BaseY        float64
}

type gridLine struct {
	Y     float64
	Label string
}

type column struct {
	X, Y, W, H float64
	Title      string
}

type colLabel struct {
	X     float64
	Label string
}

// dayColumns charts values per day from since (inclusive) for n days.
func dayColumns(label string, since time.Time, n int, value map[string]float64, format func(float64) string) columnChart {
	c := columnChart{Label: label, W: chartW, H: colChartH, PlotL: colLeft, PlotR: chartW - colRight, BaseY: colChartH - colBottom}
	most := 0.0
	for _, v := range value {
		most = math.Max(most, v)
	}
	if most == 0 {
		c.Empty, c.H = true, 40
		return c
	}
	top, step := niceScale(most)
	plotH := float64(colChartH - colTop - colBottom)
	for v := 0.0; v <= top+step/2; v += step {
		c.Grid = append(c.Grid, gridLine{Y: c.BaseY - v/top*plotH, Label: format(v)})
	}
	slot := (c.PlotR - c.PlotL) / float64(n)
	every := int(math.Ceil(float64(n) / 10))
	for i := range n {
		day := since.AddDate(0, 0, i)
		key := day.Format(time.DateOnly)
		v := value[key]
		h := v / top * plotH
		x := c.PlotL + float64(i)*slot
		c.Cols = append(c.Cols, column{X: x + slot*0.15, W: slot * 0.7, Y: c.BaseY - h, H: h, Title: key + ": " + format(v)})
		if i%every == 0 {
			c.Labels = append(c.Labels, colLabel{X: x + slot/2, Label: day.Format("Jan 2")})
		}
	}
	return c
}

// niceScale picks an axis for a maximum of m: a step of 1, 2 or 5 times
// a power of ten giving at most four grid lines, the top at or above m.
func niceScale(m float64) (top, step float64) {
	p := math.Pow(10, math.Floor(math.Log10(m/4)))
	for {
		for _, k := range []float64{1, 2, 5} {
			if step = k * p; step*4 >= m {
				return math.Ceil(m/step) * step, step
			}
		}
		p *= 10
	}
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
