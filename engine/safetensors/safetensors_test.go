package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// golden builds the expected bytes of a file from its parts exactly as the
// format describes them, independently of the writer.
func golden(hlen byte, header string, data ...byte) []byte {
	b := []byte{hlen, 0, 0, 0, 0, 0, 0, 0}
	b = append(b, header...)
	return append(b, data...)
}

// writeGolden requires Write to give exactly the bytes want for entries,
// meta and dtype, and returns want read back.
func writeGolden(t *testing.T, entries []Entry, meta map[string]string, dtype DType, want []byte) *File {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, entries, meta, dtype); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("bytes differ\n got %q\nwant %q", buf.Bytes(), want)
	}
	f, err := ReadBytes(want)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestWriteGoldenF32(t *testing.T) {
	// 135 bytes of JSON + 1 space of padding = 136 = 0x88.
	want := golden(0x88,
		`{"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1,1],"data_offsets":[8,12]}} `,
		0x00, 0x00, 0x80, 0x3f, // 1.0
		0x00, 0x00, 0x00, 0xc0, // -2.0
		0x00, 0x00, 0x00, 0x3f, // 0.5
	)
	// Deliberately unsorted: the writer must order tensors by name.
	entries := []Entry{
		{Name: "b", Shape: []int{1, 1}, Data: []float32{0.5}},
		{Name: "a", Shape: []int{2}, Data: []float32{1, -2}},
	}
	f := writeGolden(t, entries, map[string]string{"k": "v"}, F32, want)
	if f.Metadata["k"] != "v" || f.Len() != 2 {
		t.Fatalf("metadata %v, %d tensors", f.Metadata, f.Len())
	}
	a, _ := f.Get("a")
	b, _ := f.Get("b")
	if a.Data[0] != 1 || a.Data[1] != -2 || b.Data[0] != 0.5 || len(b.Shape) != 2 {
		t.Fatalf("decoded a=%v b=%v", a, b)
	}
}

func TestWriteGoldenF16(t *testing.T) {
	// 54 bytes of JSON + 2 spaces = 56 = 0x38.
	want := golden(0x38,
		`{"h":{"dtype":"F16","shape":[3],"data_offsets":[0,6]}}  `,
		0x00, 0x3c, // 1.0
		0xff, 0x7b, // 65504, the largest finite half
		0x00, 0x80, // -0
	)
	negZero := float32(math.Copysign(0, -1))
	f := writeGolden(t, []Entry{{Name: "h", Shape: []int{3}, Data: []float32{1, 65504, negZero}}}, nil, F16, want)
	h, _ := f.Get("h")
	if dt, _ := f.DType("h"); dt != F16 {
		t.Fatalf("dtype %s", dt)
	}
	if h.Data[0] != 1 || h.Data[1] != 65504 || math.Float32bits(h.Data[2]) != 0x80000000 {
		t.Fatalf("decoded %v", h.Data)
	}
}

func TestReadBF16(t *testing.T) {
	// BF16 is read-compatible with files written elsewhere; hand-made here.
	hdr := `{"x":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}`
	file := rawFile(hdr, []byte{0x80, 0x3f, 0x40, 0xc0}) // 1.0, -3.0
	f, err := ReadBytes(file)
	if err != nil {
		t.Fatal(err)
	}
	x, _ := f.Get("x")
	if x.Data[0] != 1 || x.Data[1] != -3 {
		t.Fatalf("got %v", x.Data)
	}
}

func TestF16KnownBits(t *testing.T) {
	negZero := float32(math.Copysign(0, -1))
	cases := []struct {
		in   float32
		want uint16
	}{
		{1, 0x3c00},
		{-2, 0xc000},
		{65504, 0x7bff},
		{65519, 0x7bff},            // below the midpoint to 65536
		{65520, 0x7c00},            // the midpoint: ties to even = Inf
		{1e6, 0x7c00},              // overflow clamps to Inf
		{-1e6, 0xfc00},             // and to -Inf
		{6e-8, 0x0001},             // nearest to the smallest subnormal 2^-24
		{0x1p-25, 0x0000},          // exactly half of it: ties to even = 0
		{0x1.0002p-25, 0x0001},     // just above half rounds up
		{3 * 0x1p-25, 0x0002},      // 1.5 ulp: tie to even = 2
		{0x1p-14, 0x0400},          // smallest normal
		{1023.5 * 0x1p-24, 0x0400}, // subnormal tie rounds up into normal
		{1 + 0x1p-11, 0x3c00},      // tie to even keeps 1.0
		{1 + 3*0x1p-11, 0x3c02},    // tie to even rounds up
		{0.1, 0x2e66},              //
		{float32(math.Inf(1)), 0x7c00},
		{float32(math.Inf(-1)), 0xfc00},
		{negZero, 0x8000},
		{0, 0x0000},
		{1e-45, 0x0000}, // float32 subnormal
	}
	for _, c := range cases {
		if got := Float32ToF16(c.in); got != c.want {
			t.Errorf("Float32ToF16(%g) = %#04x, want %#04x", c.in, got, c.want)
		}
	}
	nan := Float32ToF16(float32(math.NaN()))
	if nan&0x7c00 != 0x7c00 || nan&0x3ff == 0 {
		t.Errorf("NaN encoded as %#04x", nan)
	}
	// A NaN whose payload lives only in the low bits must not become Inf.
	if h := Float32ToF16(math.Float32frombits(0x7f800001)); h&0x3ff == 0 {
		t.Errorf("low-payload NaN encoded as %#04x", h)
	}
	if v := F16ToFloat32(nan); !math.IsNaN(float64(v)) {
		t.Errorf("NaN decoded as %g", v)
	}
	if v := F16ToFloat32(0x0001); v != 0x1p-24 {
		t.Errorf("smallest subnormal decoded as %g", v)
	}
}

// TestF16AllHalvesRoundTrip checks every one of the 65536 encodings.
func TestF16AllHalvesRoundTrip(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		v := F16ToFloat32(uint16(h))
		if math.IsNaN(float64(v)) {
			if h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
				t.Fatalf("%#04x decoded to NaN", h)
			}
			continue
		}
		if back := Float32ToF16(v); back != uint16(h) {
			t.Fatalf("%#04x -> %g -> %#04x", h, v, back)
		}
	}
}

// TestF16MatchesExactRounding compares against a slow reference that picks
// the nearest half in exact arithmetic.
func TestF16MatchesExactRounding(t *testing.T) {
	// Positive finite halves in increasing order are the encodings 0..0x7bff.
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		// Exponents around half's range, where every rounding case lives.
		exp := uint32(100 + rng.IntN(46))
		bits := exp<<23 | rng.Uint32()&0x7fffff
		if rng.IntN(4) == 0 {
			bits = bits&^0x1fff | 0x1000 // force ties in the normal range
		}
		x := math.Float32frombits(bits)
		got := Float32ToF16(x)
		if want := refF16(x); got != want {
			t.Fatalf("Float32ToF16(%g [%#08x]) = %#04x, want %#04x", x, bits, got, want)
		}
	}
}

func refF16(x float32) uint16 {
	if x >= 65520 {
		return 0x7c00
	}
	bx := new(big.Float).SetPrec(200).SetFloat64(float64(x))
	lo, hi := 0, 0x7bff
	for lo < hi { // largest encoding with value <= x
		mid := (lo + hi + 1) / 2
		if float64(F16ToFloat32(uint16(mid))) <= float64(x) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	if lo == 0x7bff {
		return 0x7bff
	}
	a := new(big.Float).SetPrec(200).SetFloat64(float64(F16ToFloat32(uint16(lo))))
	b := new(big.Float).SetPrec(200).SetFloat64(float64(F16ToFloat32(uint16(lo + 1))))
	da := new(big.Float).SetPrec(200).Sub(bx, a)
	db := new(big.Float).SetPrec(200).Sub(b, bx)
	switch da.Cmp(db) {
	case -1:
		return uint16(lo)
	case 1:
		return uint16(lo + 1)
	}
	if lo%2 == 0 {
		return uint16(lo)
	}
	return uint16(lo + 1)
}

func TestBF16Rounding(t *testing.T) {
	cases := []struct {
		in   float32
		want uint16
	}{
		{1, 0x3f80},
		{1 + 0x1p-8, 0x3f80},   // tie to even
		{1 + 3*0x1p-8, 0x3f82}, // tie to even rounds up
		{math.MaxFloat32, 0x7f80},
		{float32(math.Inf(-1)), 0xff80},
	}
	for _, c := range cases {
		if got := Float32ToBF16(c.in); got != c.want {
			t.Errorf("Float32ToBF16(%g) = %#04x, want %#04x", c.in, got, c.want)
		}
	}
	if v := BF16ToFloat32(Float32ToBF16(float32(math.NaN()))); !math.IsNaN(float64(v)) {
		t.Errorf("NaN became %g", v)
	}
}

func sampleEntries() []Entry {
	rng := rand.New(rand.NewPCG(3, 4))
	big := make([]float32, 40000) // spans several conversion chunks
	for i := range big {
		big[i] = float32(rng.NormFloat64())
	}
	return []Entry{
		{Name: "enc.conv_in.w", Shape: []int{100, 400}, Data: big},
		{Name: "enc.conv_in.b", Shape: []int{4}, Data: []float32{0, float32(math.Inf(1)), float32(math.Copysign(0, -1)), 1e-30}},
		{Name: "empty", Shape: []int{0, 3}, Data: nil},
		{Name: "scalar", Shape: []int{}, Data: []float32{7}},
	}
}

func TestRoundTripF32Exact(t *testing.T) {
	entries := sampleEntries()
	entries = append(entries, Entry{Name: "nan", Shape: []int{1}, Data: []float32{math.Float32frombits(0x7fc01234)}})
	meta := map[string]string{"config": `{"ch":64}`, "<html>&": "ünïcode"}
	var buf bytes.Buffer
	if err := Write(&buf, entries, meta, F32); err != nil {
		t.Fatal(err)
	}
	if hl := binary.LittleEndian.Uint64(buf.Bytes()); hl%8 != 0 {
		t.Fatalf("header length %d not padded to 8", hl)
	}
	f, err := ReadBytes(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Metadata) != 2 || f.Metadata["<html>&"] != "ünïcode" || f.Metadata["config"] != `{"ch":64}` {
		t.Fatalf("metadata %v", f.Metadata)
	}
	if got, want := strings.Join(f.Names(), ","), "empty,enc.conv_in.b,enc.conv_in.w,nan,scalar"; got != want {
		t.Fatalf("names %s", got)
	}
	for _, e := range entries {
		g, ok := f.Get(e.Name)
		if !ok {
			t.Fatalf("missing %s", e.Name)
		}
		if len(g.Shape) != len(e.Shape) || len(g.Data) != len(e.Data) {
			t.Fatalf("%s: shape %v want %v", e.Name, g.Shape, e.Shape)
		}
		for i := range e.Data {
			if math.Float32bits(g.Data[i]) != math.Float32bits(e.Data[i]) {
				t.Fatalf("%s[%d] = %g want %g", e.Name, i, g.Data[i], e.Data[i])
			}
		}
	}
}

func TestRoundTripF16WithinHalfPrecision(t *testing.T) {
	entries := sampleEntries()
	var buf bytes.Buffer
	if err := Write(&buf, entries, nil, F16); err != nil {
		t.Fatal(err)
	}
	f, err := ReadBytes(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	w, _ := f.Get("enc.conv_in.w")
	for i, v := range entries[0].Data {
		// Relative error of round-to-nearest is at most 2^-11 for normals;
		// add the subnormal spacing for values near zero.
		if d := math.Abs(float64(w.Data[i] - v)); d > math.Abs(float64(v))*0x1p-11+0x1p-25 {
			t.Fatalf("[%d] %g -> %g", i, v, w.Data[i])
		}
	}
	b, _ := f.Get("enc.conv_in.b")
	if !math.IsInf(float64(b.Data[1]), 1) || math.Float32bits(b.Data[2]) != 0x80000000 || b.Data[3] != 0 {
		t.Fatalf("specials %v", b.Data)
	}
}

func TestWriteRejectsBadEntries(t *testing.T) {
	cases := map[string][]Entry{
		"empty name":      {{Name: "", Shape: []int{1}, Data: []float32{1}}},
		"reserved":        {{Name: "__metadata__", Shape: []int{1}, Data: []float32{1}}},
		"duplicate":       {{Name: "a", Shape: []int{1}, Data: []float32{1}}, {Name: "a", Shape: []int{1}, Data: []float32{1}}},
		"length mismatch": {{Name: "a", Shape: []int{2, 2}, Data: []float32{1}}},
		"negative dim":    {{Name: "a", Shape: []int{-1}, Data: nil}},
		"overflow":        {{Name: "a", Shape: []int{1 << 40, 1 << 40}, Data: nil}},
		"bad utf8":        {{Name: "a\xff", Shape: []int{1}, Data: []float32{1}}},
	}
	for name, entries := range cases {
		if err := Write(&bytes.Buffer{}, entries, nil, F32); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if err := Write(&bytes.Buffer{}, nil, nil, "F64"); err == nil {
		t.Error("F64 write: no error")
	}
}

type failWriter struct{ left int }

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) > w.left {
		n := w.left
		w.left = 0
		return n, errors.New("disk full")
	}
	w.left -= len(p)
	return len(p), nil
}

func TestWritePropagatesWriterErrors(t *testing.T) {
	for _, left := range []int{0, 4, 100, 70000} {
		err := Write(&failWriter{left: left}, sampleEntries(), nil, F32)
		if err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("left=%d: err %v", left, err)
		}
	}
}

// rawFile frames an arbitrary header and data section.
func rawFile(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}

func TestReadRejectsCorruptHeaders(t *testing.T) {
	d8 := make([]byte, 8)
	cases := []struct {
		name, header string
		data         []byte
		wantErr      string
	}{
		{"not json", `hello`, nil, "not a JSON object"},
		{"invalid json", `{"a":`, nil, "invalid JSON"},
		{"array", `[1,2]`, nil, "not a JSON object"},
		{"trailing", `{} x`, nil, "trailing"},
		{"unknown dtype", `{"a":{"dtype":"Q7","shape":[1],"data_offsets":[0,1]}}`, d8[:1], "unsupported dtype"},
		{"f64", `{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}`, d8, "unsupported dtype"},
		{"negative dim", `{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, d8, "negative"},
		{"overflow", `{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, d8, "more elements"},
		{"size mismatch", `{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, d8, "needs 12"},
		{"reversed offsets", `{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}`, d8, "end before"},
		{"out of range", `{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, d8, "run past"},
		{"overlap", `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, d8, "overlap"},
		{"gap", `{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, d8, "gap"},
		{"trailing data", `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, d8, "cover 4"},
		{"duplicate", `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, d8, "duplicate"},
		{"duplicate meta", `{"__metadata__":{},"__metadata__":{}}`, nil, "duplicate"},
		{"meta not strings", `{"__metadata__":{"a":1}}`, nil, "__metadata__"},
		{"missing field", `{"a":{"dtype":"F32","shape":[1]}}`, d8[:4], "needs dtype"},
		{"unknown field", `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}`, d8[:4], "bad header entry"},
		{"offsets arity", `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}`, d8[:4], "data_offsets must be"},
		{"negative offset", `{"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}`, d8[:4], "bad header entry"},
		{"huge dim", `{"a":{"dtype":"F32","shape":[1e30],"data_offsets":[0,4]}}`, d8[:4], "bad header entry"},
		{"tensor not object", `{"a":5}`, nil, "bad header entry"},
	}
	for _, c := range cases {
		_, err := ReadBytes(rawFile(c.header, c.data))
		if err == nil || !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("%s: err = %v, want it to mention %q", c.name, err, c.wantErr)
		}
	}
}

func TestReadRejectsBadHeaderLength(t *testing.T) {
	huge := binary.LittleEndian.AppendUint64(nil, 200<<20)
	huge = append(huge, make([]byte, 64)...)
	if _, err := ReadBytes(huge); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("absurd header length: %v", err)
	}
	past := binary.LittleEndian.AppendUint64(nil, 1000)
	past = append(past, "{}"...)
	if _, err := ReadBytes(past); err == nil || !strings.Contains(err.Error(), "past the end") {
		t.Errorf("header past EOF: %v", err)
	}
	allOnes := bytes.Repeat([]byte{0xff}, 16)
	if _, err := ReadBytes(allOnes); err == nil {
		t.Error("0xff.. header length accepted")
	}
	if _, err := ReadBytes(nil); err == nil {
		t.Error("empty file accepted")
	}
}

// TestReadEveryTruncation cuts a valid file at every length: each prefix must
// give an error, and none may panic.
func TestReadEveryTruncation(t *testing.T) {
	var buf bytes.Buffer
	entries := []Entry{
		{Name: "a", Shape: []int{2, 2}, Data: []float32{1, 2, 3, 4}},
		{Name: "b", Shape: []int{3}, Data: []float32{5, 6, 7}},
	}
	if err := Write(&buf, entries, map[string]string{"m": "x"}, F16); err != nil {
		t.Fatal(err)
	}
	full := buf.Bytes()
	for n := 0; n < len(full); n++ {
		if _, err := ReadBytes(full[:n:n]); err == nil {
			t.Fatalf("prefix of %d/%d bytes accepted", n, len(full))
		}
	}
	// Flipping any single byte must not panic either (it may still parse:
	// a flipped data byte is just a different value).
	for i := range full {
		c := bytes.Clone(full)
		c[i] ^= 0xa5
		_, _ = ReadBytes(c)
	}
}

func FuzzRead(f *testing.F) {
	var buf bytes.Buffer
	_ = Write(&buf, []Entry{{Name: "a", Shape: []int{2}, Data: []float32{1, 2}}}, map[string]string{"k": "v"}, F32)
	f.Add(buf.Bytes())
	f.Add(rawFile(`{"a":{"dtype":"BF16","shape":[1],"data_offsets":[0,2]}}`, []byte{0, 0}))
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := ReadBytes(b)
		if err != nil {
			return
		}
		// Anything accepted must survive a rewrite in F32.
		var out bytes.Buffer
		if err := Write(&out, file.Entries(), file.Metadata, F32); err != nil {
			t.Fatalf("re-encoding an accepted file: %v", err)
		}
	})
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	first := []Entry{{Name: "w", Shape: []int{2}, Data: []float32{1, 2}}}
	if err := WriteFile(path, first, nil, F32); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", st.Mode())
	}
	orig, _ := os.ReadFile(path)

	// A validation failure leaves the old file alone.
	bad := []Entry{{Name: "w", Shape: []int{3}, Data: []float32{1}}}
	if err := WriteFile(path, bad, nil, F32); err == nil {
		t.Fatal("bad entries accepted")
	}
	now, _ := os.ReadFile(path)
	if !bytes.Equal(now, orig) {
		t.Fatal("failed write changed the existing file")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("temporary files left behind: %v", ents)
	}

	f, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if w, _ := f.Get("w"); w.Data[1] != 2 {
		t.Fatalf("read back %v", w.Data)
	}
	if err := WriteFile(filepath.Join(dir, "no", "such", "dir.safetensors"), first, nil, F32); err == nil {
		t.Error("write into a missing directory succeeded")
	}
	if _, err := ReadFile(filepath.Join(dir, "missing.safetensors")); err == nil {
		t.Error("reading a missing file succeeded")
	}
}

func TestEmptyFile(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, nil, nil, F32); err != nil {
		t.Fatal(err)
	}
	if want := golden(8, "{}      "); !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("got %q", buf.Bytes())
	}
	f, err := ReadBytes(buf.Bytes())
	if err != nil || f.Len() != 0 || f.Metadata == nil {
		t.Fatalf("%v %v", f, err)
	}
}
