package render

import (
	"compress/zlib"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/zoomdiff/zoomdiff/atomicfile"
	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/pngstream"
)

// Sink takes an output's rows top to bottom.
type Sink interface {
	// WriteRows takes n rows of interleaved RGB and their alpha (nil for
	// an opaque image; given for every band or for none).
	WriteRows(rgb, alpha []float32, n int) error
	// Close finishes the output after its last row.
	Close() error
}

// Kind is how one output is stored.
type Kind struct {
	// Gray stores one channel (the rows are grey already).
	Gray bool
	// Alpha stores the alpha the rows come with.
	Alpha bool
	// Write holds the bit depth, ICC profile and JPEG quality.
	Write imageio.WriteOptions
	// PNGLevel is the zlib level of PNG output (KindOf sets
	// zlib.DefaultCompression; the server trades size for speed).
	PNGLevel int
}

// KindOf is how the samples and the mean of an upscale of in are stored in
// format f: grey stays grey, alpha stays, a 16-bit input gives 16-bit PNG
// or TIFF, and the input's ICC profile and EXIF block are embedded (base's
// own, if set, win; TIFF carries no EXIF). The std map is RGB with base's settings and the input's alpha.
func KindOf(in *imageio.Image, f imageio.Format, base imageio.WriteOptions) Kind {
	k := Kind{Gray: in.Gray, Alpha: in.Alpha != nil, Write: base, PNGLevel: zlib.DefaultCompression}
	k.Write.Bits16 = base.Bits16 || (f == imageio.PNG || f == imageio.TIFF) && in.Depth > 8
	if k.Write.ICC == nil {
		k.Write.ICC = in.ICC
	}
	if k.Write.EXIF == nil {
		k.Write.EXIF = in.EXIF
	}
	return k
}

// NewSink writes a w×h output of kind k in format f to dst: PNG and TIFF
// streamed row by row (memory does not grow with the height), JPEG
// gathered whole and encoded on Close.
func NewSink(dst io.Writer, f imageio.Format, w, h int, k Kind) (Sink, error) {
	switch f {
	case imageio.PNG:
		return rowSink{pngstream.NewWriterOptions(dst, w, h, k.PNGLevel,
			pngstream.Options{Alpha: k.Alpha, Gray: k.Gray, Bits16: k.Write.Bits16, ICC: k.Write.ICC, EXIF: k.Write.EXIF})}, nil
	case imageio.TIFF:
		t, err := imageio.NewTIFFWriter(dst, w, h, imageio.TIFFOptions{Alpha: k.Alpha, Gray: k.Gray, Bits16: k.Write.Bits16, ICC: k.Write.ICC})
		if err != nil {
			return nil, err
		}
		return rowSink{t}, nil
	}
	return &encodeSink{ImageSink: ImageSink{Image: imageio.Image{W: w, H: h, Gray: k.Gray}}, dst: dst, f: f, k: k}, nil
}

// rowWriter is a streaming encoder (pngstream.Writer, imageio.TIFFWriter):
// rows of RGB, or RGBA with alpha, top to bottom.
type rowWriter interface {
	WriteRows(v []float32, n int) error
	Close() error
}

// rowSink streams rows into a rowWriter.
type rowSink struct{ w rowWriter }

func (s rowSink) WriteRows(rgb, alpha []float32, n int) error {
	return s.w.WriteRows(imageio.Interleave(rgb, alpha), n)
}

func (s rowSink) Close() error { return s.w.Close() }

// ImageSink gathers an output in memory: after Run, Image is complete.
type ImageSink struct {
	Image imageio.Image
}

// NewImageSink returns a sink that gathers a w×h image.
func NewImageSink(w, h int) *ImageSink { return &ImageSink{Image: imageio.Image{W: w, H: h}} }

// WriteRows appends the rows (copied) and their alpha.
func (s *ImageSink) WriteRows(rgb, alpha []float32, n int) error {
	if s.Image.Pix == nil {
		s.Image.Pix = make([]float32, 0, s.Image.W*s.Image.H*3)
	}
	s.Image.Pix = append(s.Image.Pix, rgb...)
	if alpha != nil {
		if s.Image.Alpha == nil {
			s.Image.Alpha = make([]float32, 0, s.Image.W*s.Image.H)
		}
		s.Image.Alpha = append(s.Image.Alpha, alpha...)
	}
	return nil
}

// Close checks that every row arrived.
func (s *ImageSink) Close() error {
	m := &s.Image
	if len(m.Pix) != m.W*m.H*3 || m.Alpha != nil && len(m.Alpha) != m.W*m.H {
		return fmt.Errorf("render: %d colour and %d alpha values gathered for %dx%d", len(m.Pix), len(m.Alpha), m.W, m.H)
	}
	return nil
}

// encodeSink gathers the image and encodes it on Close.
type encodeSink struct {
	ImageSink
	dst io.Writer
	f   imageio.Format
	k   Kind
}

func (s *encodeSink) Close() error {
	if err := s.ImageSink.Close(); err != nil {
		return err
	}
	return imageio.Encode(s.dst, &s.Image, s.f, s.k.Write)
}

// SamplePaths names the files of n samples: out itself for one sample,
// else out with -1, -2, … before its extension.
func SamplePaths(out string, n int) []string {
	if n == 1 {
		return []string{out}
	}
	ext := filepath.Ext(out)
	base := strings.TrimSuffix(out, ext)
	paths := make([]string, n)
	for k := range paths {
		paths[k] = fmt.Sprintf("%s-%d%s", base, k+1, ext)
	}
	return paths
}

// Files names the files of one upscale: the samples, and optionally their
// mean and spread ("" for none).
type Files struct {
	Samples   []string
	Mean, Std string
	// Write holds the bit depth, profile and JPEG quality (see KindOf).
	Write imageio.WriteOptions
}

// Paths lists every file, samples first.
func (f Files) Paths() []string {
	p := append([]string(nil), f.Samples...)
	for _, x := range []string{f.Mean, f.Std} {
		if x != "" {
			p = append(p, x)
		}
	}
	return p
}

// Check refuses, before any work, file names whose format is unknown,
// files whose folder does not exist (which would otherwise fail only when
// the first byte is written, after all the sampling), a JPEG quality
// outside 1–100, and one file named twice (--mean naming a sample), which
// would keep only one of the outputs.
func (f Files) Check() error {
	seen := map[string]string{}
	for _, p := range f.Paths() {
		format, err := imageio.FormatFor(p)
		if err != nil {
			return err
		}
		if q := f.Write.Quality; format == imageio.JPEG && (q < 0 || q > 100) {
			return fmt.Errorf("write %s: JPEG quality %d outside 1–100", p, q)
		}
		if err := atomicfile.CheckDir(p); err != nil {
			return err
		}
		key := p
		if a, err := filepath.Abs(p); err == nil {
			key = a
		}
		if first, ok := seen[key]; ok {
			return fmt.Errorf("%s and %s name the same file: each output needs its own", first, p)
		}
		seen[key] = p
	}
	return nil
}

// WriteFiles runs src into files, atomically: each is replaced only if the
// whole render succeeds, so a failure leaves every path as it was.
func WriteFiles(ctx context.Context, src Source, in *imageio.Image, files Files, opt Options) error {
	if err := files.Check(); err != nil {
		return err
	}
	w, h := src.Size()
	paths := files.Paths()
	return atomicfile.WriteAll(paths, func(ws []io.Writer) error {
		// Paths lists the samples, then the mean and the std map if named.
		var out Outputs
		slots := make([]*Sink, 0, len(paths))
		out.Samples = make([]Sink, len(files.Samples))
		for k := range out.Samples {
			slots = append(slots, &out.Samples[k])
		}
		if files.Mean != "" {
			slots = append(slots, &out.Mean)
		}
		if files.Std != "" {
			slots = append(slots, &out.Std)
		}
		for i, p := range paths {
			f, _ := imageio.FormatFor(p)
			k := KindOf(in, f, files.Write)
			if slots[i] == &out.Std {
				k = Kind{Alpha: in.Alpha != nil, Write: files.Write, PNGLevel: zlib.DefaultCompression}
			}
			s, err := NewSink(ws[i], f, w, h, k)
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			*slots[i] = s
		}
		return Run(ctx, src, in, out, opt)
	})
}
