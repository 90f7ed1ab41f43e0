// Command niqegen converts NIQE's pristine-image model from BasicSR's
// niqe_pris_params.npz (a zip of three float64 .npy arrays) into the flat
// file metrics/niqe_params.bin that package metrics embeds: mu (36), cov
// (36×36, row-major) and the 7×7 Gaussian window, float64 little-endian.
//
//	go run ./metrics/internal/niqegen ../shared/data/metrics/niqe_pris_params.npz metrics/niqe_params.bin
package main

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	"github.com/zoomdiff/zoomdiff/atomicfile"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: niqegen niqe_pris_params.npz niqe_params.bin")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "niqegen:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	z, err := zip.OpenReader(in)
	if err != nil {
		return err
	}
	defer z.Close()
	arrays := map[string][]float64{}
	for _, f := range z.File {
		r, err := f.Open()
		if err != nil {
			return err
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			return err
		}
		v, err := readNPY(b)
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		arrays[strings.TrimSuffix(f.Name, ".npy")] = v
	}
	var buf bytes.Buffer
	for _, k := range []struct {
		name string
		n    int
	}{{"mu_pris_param", 36}, {"cov_pris_param", 36 * 36}, {"gaussian_window", 49}} {
		v := arrays[k.name]
		if len(v) != k.n {
			return fmt.Errorf("%s: %d values, want %d", k.name, len(v), k.n)
		}
		for _, x := range v {
			binary.Write(&buf, binary.LittleEndian, math.Float64bits(x))
		}
	}
	return atomicfile.Write(out, func(w io.Writer) error {
		_, err := w.Write(buf.Bytes())
		return err
	})
}

// readNPY reads a little-endian float64 .npy array (versions 1–3, one or
// two dimensions), returning its values flat in row-major order.
func readNPY(b []byte) ([]float64, error) {
	if len(b) < 10 || string(b[1:6]) != "NUMPY" {
		return nil, fmt.Errorf("not a .npy file")
	}
	var hl, off int
	switch b[6] {
	case 1:
		hl, off = int(binary.LittleEndian.Uint16(b[8:10])), 10
	case 2, 3:
		hl, off = int(binary.LittleEndian.Uint32(b[8:12])), 12
	default:
		return nil, fmt.Errorf(".npy version %d", b[6])
	}
	header := string(b[off : off+hl])
	if !strings.Contains(header, "'<f8'") {
		return nil, fmt.Errorf("want float64, header %q", header)
	}
	data := b[off+hl:]
	v := make([]float64, len(data)/8)
	for i := range v {
		v[i] = math.Float64frombits(binary.LittleEndian.Uint64(data[8*i:]))
	}
	if !strings.Contains(header, "'fortran_order': True") {
		return v, nil
	}
	var r, c int
	if _, err := fmt.Sscanf(header[strings.Index(header, "'shape': (")+len("'shape': ("):], "%d, %d)", &r, &c); err != nil || r*c != len(v) {
		return nil, fmt.Errorf("column-major array of shape other than 2-D: header %q", header)
	}
	t := make([]float64, len(v)) // column-major to row-major
	for i := range r {
		for j := range c {
			t[i*c+j] = v[j*r+i]
		}
	}
	return t, nil
}
