package resample

import "fmt"

// Stream resizes an image whose source rows are made on demand, for
// outputs too large to hold: Rows asks src only for the source rows the
// requested output rows reach, keeps them (resized along x) for the next
// band, and so holds a few source rows at a time. Bands taken from the top
// down each make every source row once; any other order still gives the
// same pixels. The weights are Resize's, so the rows are Resize's to float
// rounding (bit for bit where Resize, too, resizes along x first: when the
// vertical scale is the larger). A Stream is not safe for concurrent use.
type Stream struct {
	src    func(y0, y1 int) []float32
	x, y   axis
	keep   []int // keep[o]: the lowest source row any output row from o on reads
	c, dw  int
	lo, hi int       // source rows held in cols
	cols   []float32 // rows [lo, hi), resized along x: dw·c values each
}

// NewStream prepares resizing a w×h image with c interleaved channels to
// dw×dh with method m, where src(y0, y1) returns source rows [y0, y1)
// (w·c values a row).
func NewStream(w, h, c, dw, dh int, m Method, src func(y0, y1 int) []float32) (*Stream, error) {
	p, err := NewPlan(w, h, c, dw, dh, Options{Method: m})
	if err != nil {
		return nil, err
	}
	s := &Stream{src: src, x: p.x, y: p.y.explicit(), c: c, dw: dw, keep: make([]int, dh)}
	// An output row whose position falls on a source row's centre reads
	// that row alone, so the lowest row read is not monotone: hold rows
	// until no later output row reads them.
	low := h
	for o := dh - 1; o >= 0; o-- {
		for _, i := range s.y.idx[o*s.y.taps : (o+1)*s.y.taps] {
			low = min(low, int(i))
		}
		s.keep[o] = low
	}
	return s, nil
}

// explicit returns the axis with its weights written out: one tap of
// weight 1 per output when it is the identity.
func (a axis) explicit() axis {
	if !a.identity {
		return a
	}
	e := axis{in: a.in, out: a.out, taps: 1, idx: make([]int32, a.out), w: make([]float32, a.out)}
	for o := range a.out {
		e.idx[o], e.w[o] = int32(o), 1
	}
	return e
}

// Rows returns output rows [y0, y1) (dw·c values a row).
func (s *Stream) Rows(y0, y1 int) ([]float32, error) {
	if y0 < 0 || y1 > s.y.out || y0 >= y1 {
		return nil, fmt.Errorf("resample: rows [%d, %d) of a %d-row output", y0, y1, s.y.out)
	}
	t := s.y.taps
	idx := s.y.idx[y0*t : y1*t]
	lo, hi := s.keep[y0], 0
	for _, i := range idx {
		hi = max(hi, int(i)+1)
	}
	row := s.dw * s.c
	if lo < s.lo || lo > s.hi {
		s.lo, s.hi, s.cols = lo, lo, nil // nothing held is reusable
	}
	s.cols = append([]float32(nil), s.cols[(lo-s.lo)*row:]...)
	s.lo = lo
	if hi > s.hi {
		src := s.src(s.hi, hi)
		if want := (hi - s.hi) * s.x.in * s.c; len(src) != want {
			return nil, fmt.Errorf("resample: source gave %d values for rows [%d, %d), want %d", len(src), s.hi, hi, want)
		}
		resized := src
		if !s.x.identity {
			resized = make([]float32, (hi-s.hi)*row)
			horizontal(resized, src, hi-s.hi, s.c, s.x)
		}
		s.cols = append(s.cols, resized...)
		s.hi = hi
	}
	band := axis{in: s.hi - s.lo, out: y1 - y0, taps: t, idx: make([]int32, len(idx)), w: s.y.w[y0*t : y1*t]}
	for k, i := range idx {
		band.idx[k] = i - int32(s.lo)
	}
	out := make([]float32, (y1-y0)*row)
	vertical(out, s.cols, row, band)
	return out, nil
}
