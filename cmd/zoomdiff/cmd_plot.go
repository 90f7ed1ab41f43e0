package main

import (
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/zoomdiff/zoomdiff/atomicfile"
	"github.com/zoomdiff/zoomdiff/plot"
)

func runPlot(args []string) error {
	fs := flag.NewFlagSet("plot", flag.ContinueOnError)
	xcol := fs.String("x", "step", "column for the x axis")
	ycols := fs.String("y", "", "comma-separated columns to draw (default: all but x)")
	title := fs.String("title", "", "chart title")
	xlabel := fs.String("xlabel", "", "x-axis label (default: the x column)")
	ylabel := fs.String("ylabel", "", "y-axis label")
	xscale := &factorFlag{1}
	fs.Var(xscale, "xscale", "multiply x values by this, a number or a fraction (e.g. 1/3600 for seconds to hours)")
	out := fs.String("o", "", "output PNG")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 || *out == "" {
		return errors.New("usage: zoomdiff plot [LABEL=]FILE.csv ... -o chart.png")
	}
	if err := checkPNGOutput(*out); err != nil {
		return err
	}
	chart := plot.Chart{Title: *title, XLabel: *xlabel, YLabel: *ylabel}
	if chart.XLabel == "" {
		chart.XLabel = *xcol
	}
	for _, arg := range fs.Args() {
		label, path, ok := strings.Cut(arg, "=")
		if !ok {
			label, path = "", arg
		}
		series, err := readSeries(path, *xcol, *ycols, xscale.v)
		if err != nil {
			return err
		}
		for _, s := range series {
			if label != "" {
				s.Label = label + " " + s.Label
			}
			chart.Series = append(chart.Series, s)
		}
	}
	img, err := chart.Draw()
	if err != nil {
		return err
	}
	return atomicfile.Write(*out, func(w io.Writer) error { return png.Encode(w, img) })
}

// checkPNGOutput refuses an output name that does not end in .png for the
// commands that write only PNG (plot, strip): a chart.jpg would be a PNG
// under a JPEG name, which some programs refuse to open.
func checkPNGOutput(path string) error {
	if !strings.EqualFold(filepath.Ext(path), ".png") {
		return fmt.Errorf("-o %s: the output is a PNG image: name it .png", path)
	}
	return atomicfile.CheckDir(path)
}

// factorFlag is a finite number given as a decimal or as a fraction a/b.
type factorFlag struct{ v float64 }

func (f *factorFlag) String() string { return strconv.FormatFloat(f.v, 'g', -1, 64) }

func (f *factorFlag) Set(s string) error {
	num, den, frac := strings.Cut(s, "/")
	v, err := strconv.ParseFloat(num, 64)
	if err == nil && frac {
		var d float64
		if d, err = strconv.ParseFloat(den, 64); err == nil {
			v /= d
		}
	}
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v == 0 {
		return fmt.Errorf("%q: want a finite, non-zero number or fraction such as 1/3600", s)
	}
	f.v = v
	return nil
}

// readSeries reads one CSV with a header row into a series per y column.
func readSeries(path, xcol, ycols string, xscale float64) ([]plot.Series, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(rows) < 2 {
		return nil, fmt.Errorf("%s: no data rows", path)
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	xi, ok := col[xcol]
	if !ok {
		return nil, fmt.Errorf("%s: no column %q (have %s)", path, xcol, strings.Join(rows[0], ", "))
	}
	var names []string
	if ycols != "" {
		names = strings.Split(ycols, ",")
	} else {
		for _, n := range rows[0] {
			if n != xcol {
				names = append(names, n)
			}
		}
	}
	var out []plot.Series
	for _, n := range names {
		yi, ok := col[n]
		if !ok {
			return nil, fmt.Errorf("%s: no column %q", path, n)
		}
		s := plot.Series{Label: n}
		for _, r := range rows[1:] {
			x, err1 := strconv.ParseFloat(r[xi], 64)
			y, err2 := strconv.ParseFloat(r[yi], 64)
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("%s: bad number in row %v", path, r)
			}
			s.X = append(s.X, x*xscale)
			s.Y = append(s.Y, y)
		}
		out = append(out, s)
	}
	return out, nil
}
