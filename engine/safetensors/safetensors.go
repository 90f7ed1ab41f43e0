// Package safetensors reads and writes the safetensors format: an 8-byte
// little-endian header length, a JSON header that maps tensor names to
// {dtype, shape, data_offsets} plus an optional "__metadata__" map of
// strings, then the raw little-endian tensor bytes.
//
// Values are always float32 in memory; on disk they may be F32, F16 or BF16.
// Reading is strict — every structural inconsistency is an error, never a
// panic — because the files come from disk, downloads and go:embed, and a
// silently misread weight is far harder to debug than a refused file.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/zoomdiff/zoomdiff/atomicfile"
)

// DType names an on-disk element type, spelled as in the format's header.
type DType string

// The element types this package converts to and from float32.
const (
	F32  DType = "F32"
	F16  DType = "F16"
	BF16 DType = "BF16"
)

// Size is the number of bytes one element occupies, or 0 for a dtype this
// package does not support.
func (d DType) Size() int {
	switch d {
	case F32:
		return 4
	case F16, BF16:
		return 2
	}
	return 0
}

// MaxHeaderSize bounds the JSON header. The reference implementation uses
// the same limit; it stops a corrupt length field from making us allocate
// gigabytes before discovering the file is garbage.
const MaxHeaderSize = 100 << 20

// metadataKey is the reserved header key that holds the string map.
const metadataKey = "__metadata__"

// chunkBytes is the size of the conversion buffer used when streaming tensor
// bytes, so reading or writing never needs a second full copy of a tensor.
const chunkBytes = 64 << 10

// Entry is one named tensor: its shape and its values in row-major order.
type Entry struct {
	Name  string
	Shape []int
	Data  []float32
}

// File is the decoded contents of a safetensors file.
type File struct {
	// Metadata is the "__metadata__" map; it is never nil.
	Metadata map[string]string
	entries  []Entry // sorted by name
	dtypes   []DType // parallel to entries
	index    map[string]int
}

// Names returns the tensor names in sorted order.
func (f *File) Names() []string {
	names := make([]string, len(f.entries))
	for i, e := range f.entries {
		names[i] = e.Name
	}
	return names
}

// Entries returns all tensors sorted by name. The slice is shared with f.
func (f *File) Entries() []Entry { return f.entries }

// Len is the number of tensors.
func (f *File) Len() int { return len(f.entries) }

// Get returns the tensor called name.
func (f *File) Get(name string) (Entry, bool) {
	i, ok := f.index[name]
	if !ok {
		return Entry{}, false
	}
	return f.entries[i], true
}

// DType returns the dtype the tensor called name was stored as.
func (f *File) DType(name string) (DType, bool) {
	i, ok := f.index[name]
	if !ok {
		return "", false
	}
	return f.dtypes[i], true
}

// Write encodes entries and meta to w with every tensor stored as dtype.
// Tensors are laid out in sorted name order and the header is padded with
// spaces to a multiple of 8 bytes, as the reference implementation does, so
// the same inputs always give the same bytes. meta may be nil.
func Write(w io.Writer, entries []Entry, meta map[string]string, dtype DType) error {
	header, sorted, err := buildHeader(entries, meta, dtype)
	if err != nil {
		return err
	}
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(header)))
	if _, err := w.Write(lenBuf[:]); err != nil {
		return fmt.Errorf("safetensors: writing header length: %w", err)
	}
	if _, err := w.Write(header); err != nil {
		return fmt.Errorf("safetensors: writing header: %w", err)
	}
	buf := make([]byte, chunkBytes)
	for _, e := range sorted {
		if err := writeData(w, buf, e.Data, dtype); err != nil {
			return fmt.Errorf("safetensors: writing tensor %q: %w", e.Name, err)
		}
	}
	return nil
}

// buildHeader validates the inputs and returns the padded JSON header and
// the entries in the order their data follows it.
func buildHeader(entries []Entry, meta map[string]string, dtype DType) ([]byte, []Entry, error) {
	size := dtype.Size()
	if size == 0 {
		return nil, nil, fmt.Errorf("safetensors: cannot write dtype %q (supported: F32, F16, BF16)", dtype)
	}
	sorted := slices.Clone(entries)
	slices.SortFunc(sorted, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	for i, e := range sorted {
		switch {
		case e.Name == "":
			return nil, nil, errors.New("safetensors: tensor with an empty name")
		case e.Name == metadataKey:
			return nil, nil, fmt.Errorf("safetensors: tensor name %q is reserved", e.Name)
		case !utf8.ValidString(e.Name):
			return nil, nil, fmt.Errorf("safetensors: tensor name %q is not valid UTF-8", e.Name)
		case i > 0 && sorted[i-1].Name == e.Name:
			return nil, nil, fmt.Errorf("safetensors: duplicate tensor name %q", e.Name)
		}
		n, err := numel(e.Shape)
		if err != nil {
			return nil, nil, fmt.Errorf("safetensors: tensor %q: %w", e.Name, err)
		}
		if n != len(e.Data) {
			return nil, nil, fmt.Errorf("safetensors: tensor %q has shape %v (%d values) but %d values of data", e.Name, e.Shape, n, len(e.Data))
		}
	}

	var h bytes.Buffer
	h.WriteByte('{')
	first := true
	if len(meta) > 0 {
		keys := make([]string, 0, len(meta))
		for k, v := range meta {
			if !utf8.ValidString(k) || !utf8.ValidString(v) {
				return nil, nil, fmt.Errorf("safetensors: metadata %q is not valid UTF-8", k)
			}
			keys = append(keys, k)
		}
		slices.Sort(keys)
		appendJSONString(&h, metadataKey)
		h.WriteString(":{")
		for i, k := range keys {
			if i > 0 {
				h.WriteByte(',')
			}
			appendJSONString(&h, k)
			h.WriteByte(':')
			appendJSONString(&h, meta[k])
		}
		h.WriteByte('}')
		first = false
	}
	var off uint64
	for _, e := range sorted {
		if !first {
			h.WriteByte(',')
		}
		first = false
		end := off + uint64(len(e.Data))*uint64(size)
		appendJSONString(&h, e.Name)
		fmt.Fprintf(&h, `:{"dtype":"%s","shape":[`, dtype)
		for j, d := range e.Shape {
			if j > 0 {
				h.WriteByte(',')
			}
			fmt.Fprintf(&h, "%d", d)
		}
		fmt.Fprintf(&h, `],"data_offsets":[%d,%d]}`, off, end)
		off = end
	}
	h.WriteByte('}')
	for h.Len()%8 != 0 {
		h.WriteByte(' ')
	}
	if h.Len() > MaxHeaderSize {
		return nil, nil, fmt.Errorf("safetensors: header of %d bytes exceeds the %d byte limit", h.Len(), MaxHeaderSize)
	}
	return h.Bytes(), sorted, nil
}

// appendJSONString writes s as a JSON string without the HTML escaping
// encoding/json applies by default, matching what other writers produce.
func appendJSONString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)       // a string always encodes; bytes.Buffer never fails
	b.Truncate(b.Len() - 1) // Encode appends a newline
}

// writeData streams data to w in dtype through buf.
func writeData(w io.Writer, buf []byte, data []float32, dtype DType) error {
	size := dtype.Size()
	per := len(buf) / size
	for len(data) > 0 {
		n := min(per, len(data))
		b := buf[:n*size]
		switch dtype {
		case F32:
			for i, v := range data[:n] {
				binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
			}
		case F16:
			for i, v := range data[:n] {
				binary.LittleEndian.PutUint16(b[2*i:], Float32ToF16(v))
			}
		case BF16:
			for i, v := range data[:n] {
				binary.LittleEndian.PutUint16(b[2*i:], Float32ToBF16(v))
			}
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

// WriteFile writes a safetensors file at path atomically: the data goes to a
// temporary file in the same directory, which is synced and then renamed
// over path. Readers therefore see either the old file or the complete new
// one, and a crash or error part-way never leaves a truncated file at path.
func WriteFile(path string, entries []Entry, meta map[string]string, dtype DType) error {
	return atomicfile.Write(path, func(w io.Writer) error { return Write(w, entries, meta, dtype) })
}

// ReadFile reads and validates the safetensors file at path. Its errors
// leave the path out, as Read's do: every caller names the file in its
// own terms ("checkpoint PATH: …"), and the path said twice over hid what
// was wrong.
func ReadFile(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", withoutPath(err))
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", withoutPath(err))
	}
	if st.IsDir() {
		return nil, errors.New("safetensors: is a folder, not a file")
	}
	return Read(fh, st.Size())
}

// withoutPath is the cause inside an *fs.PathError ("no such file or
// directory"), which errors.Is still matches to fs.ErrNotExist and the
// like, and any other error as it is.
func withoutPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}

// ReadBytes decodes a safetensors file held in memory, such as one embedded
// with go:embed. The returned tensors do not alias b.
func ReadBytes(b []byte) (*File, error) { return Read(bytes.NewReader(b), int64(len(b))) }

// header is one tensor's entry in the JSON header. Pointers tell a missing
// field from a zero one.
type header struct {
	DType       *string   `json:"dtype"`
	Shape       *[]int64  `json:"shape"`
	DataOffsets *[]uint64 `json:"data_offsets"`
}

// Read decodes and validates a safetensors file of size bytes read from r.
func Read(r io.ReaderAt, size int64) (*File, error) {
	if size < 8 {
		return nil, fmt.Errorf("safetensors: file of %d bytes is too short for the 8-byte header length", size)
	}
	var lenBuf [8]byte
	if _, err := r.ReadAt(lenBuf[:], 0); err != nil {
		return nil, fmt.Errorf("safetensors: reading header length: %w", err)
	}
	hlen := binary.LittleEndian.Uint64(lenBuf[:])
	if hlen > MaxHeaderSize {
		return nil, fmt.Errorf("safetensors: header length %d exceeds the %d byte limit (corrupt or not a safetensors file)", hlen, MaxHeaderSize)
	}
	if hlen > uint64(size-8) {
		return nil, fmt.Errorf("safetensors: header length %d runs past the end of the %d byte file (truncated?)", hlen, size)
	}
	hbuf := make([]byte, hlen)
	if _, err := r.ReadAt(hbuf, 8); err != nil {
		return nil, fmt.Errorf("safetensors: reading header: %w", err)
	}
	f, spans, err := parseHeader(hbuf)
	if err != nil {
		return nil, err
	}
	dataStart := 8 + int64(hlen)
	if err := checkSpans(spans, f, uint64(size-dataStart)); err != nil {
		return nil, err
	}
	buf := make([]byte, chunkBytes)
	for i := range f.entries {
		e := &f.entries[i]
		e.Data = make([]float32, spans[i].n)
		if err := readData(r, dataStart+int64(spans[i].begin), buf, e.Data, f.dtypes[i]); err != nil {
			return nil, fmt.Errorf("safetensors: reading tensor %q: %w", e.Name, err)
		}
	}
	return f, nil
}

// span is where one tensor's bytes lie in the data section.
type span struct {
	begin, end uint64
	n          int // element count
}

// parseHeader decodes the JSON header into a File (without data) and the
// byte span of each tensor, in the File's entry order.
func parseHeader(hbuf []byte) (*File, []span, error) {
	meta, raw, err := splitHeader(hbuf)
	if err != nil {
		return nil, nil, err
	}
	names := make([]string, 0, len(raw))
	for k := range raw {
		names = append(names, k)
	}
	slices.Sort(names)
	f := &File{Metadata: meta, index: map[string]int{}}
	spans := make([]span, len(names))
	f.entries = make([]Entry, len(names))
	f.dtypes = make([]DType, len(names))
	for i, name := range names {
		t, err := parseEntry(raw[name])
		if err != nil {
			return nil, nil, fmt.Errorf("safetensors: tensor %q: %w", name, err)
		}
		f.entries[i] = Entry{Name: name, Shape: t.shape}
		f.dtypes[i] = t.dtype
		f.index[name] = i
		spans[i] = t.span
	}
	return f, spans, nil
}

// splitHeader reads the header's top-level object: the metadata map
// (never nil) and each tensor's entry still undecoded. It refuses what
// encoding/json would let through: duplicate keys, which it silently
// resolves to the last, and trailing bytes other than padding.
func splitHeader(hbuf []byte) (meta map[string]string, raw map[string]json.RawMessage, err error) {
	if len(hbuf) == 0 || hbuf[0] != '{' {
		return nil, nil, errors.New("safetensors: header is not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(hbuf))
	if _, err := dec.Token(); err != nil {
		return nil, nil, fmt.Errorf("safetensors: invalid JSON header: %w", err)
	}
	meta = map[string]string{}
	raw = map[string]json.RawMessage{}
	seenMeta := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, fmt.Errorf("safetensors: invalid JSON header: %w", err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, nil, fmt.Errorf("safetensors: invalid JSON header: unexpected %v", tok)
		}
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, nil, fmt.Errorf("safetensors: invalid JSON header at %q: %w", key, err)
		}
		// A duplicated name means a corrupt or hostile file.
		if key == metadataKey {
			if seenMeta {
				return nil, nil, errors.New("safetensors: duplicate __metadata__ in header")
			}
			seenMeta = true
			if meta, err = parseMetadata(val, meta); err != nil {
				return nil, nil, err
			}
			continue
		}
		if _, dup := raw[key]; dup {
			return nil, nil, fmt.Errorf("safetensors: duplicate tensor name %q in header", key)
		}
		raw[key] = val
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, nil, fmt.Errorf("safetensors: invalid JSON header: %w", err)
	}
	rest := hbuf[dec.InputOffset():]
	if len(bytes.TrimLeft(rest, " \t\r\n")) != 0 {
		return nil, nil, errors.New("safetensors: trailing bytes after the JSON header")
	}
	return meta, raw, nil
}

// parseMetadata decodes the __metadata__ value val into meta (empty and
// not nil), which it returns; JSON null leaves it empty.
func parseMetadata(val json.RawMessage, meta map[string]string) (map[string]string, error) {
	if bytes.Equal(bytes.TrimSpace(val), []byte("null")) {
		return meta, nil
	}
	if err := json.Unmarshal(val, &meta); err != nil {
		return nil, fmt.Errorf("safetensors: __metadata__ must map strings to strings: %w", err)
	}
	if meta == nil {
		meta = map[string]string{}
	}
	return meta, nil
}

// tensorHeader is one tensor's header entry, decoded and checked.
type tensorHeader struct {
	dtype DType
	shape []int
	span  span
}

// parseEntry decodes and checks one tensor's header entry: all three
// fields present, a supported dtype, a shape of non-negative dimensions and
// data offsets spanning exactly its bytes. Errors do not name the tensor;
// the caller does.
func parseEntry(raw json.RawMessage) (tensorHeader, error) {
	var h header
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(&h); err != nil {
		return tensorHeader{}, fmt.Errorf("bad header entry: %w", err)
	}
	if h.DType == nil || h.Shape == nil || h.DataOffsets == nil {
		return tensorHeader{}, errors.New("header entry needs dtype, shape and data_offsets")
	}
	dt := DType(*h.DType)
	if dt.Size() == 0 {
		return tensorHeader{}, fmt.Errorf("unsupported dtype %q (supported: F32, F16, BF16)", dt)
	}
	shape := make([]int, len(*h.Shape))
	for j, v := range *h.Shape {
		if v < 0 {
			return tensorHeader{}, fmt.Errorf("negative dimension in shape %v", *h.Shape)
		}
		if uint64(v) > math.MaxInt {
			return tensorHeader{}, fmt.Errorf("dimension %d too large", v)
		}
		shape[j] = int(v)
	}
	n, err := numel(shape)
	if err != nil {
		return tensorHeader{}, err
	}
	offs := *h.DataOffsets
	if len(offs) != 2 {
		return tensorHeader{}, fmt.Errorf("data_offsets must be [begin, end], got %v", offs)
	}
	if offs[1] < offs[0] {
		return tensorHeader{}, fmt.Errorf("data_offsets %v end before they begin", offs)
	}
	if uint64(n) > math.MaxUint64/uint64(dt.Size()) || offs[1]-offs[0] != uint64(n)*uint64(dt.Size()) {
		return tensorHeader{}, fmt.Errorf("data_offsets %v span %d bytes but shape %v of %s needs %d", offs, offs[1]-offs[0], shape, dt, uint64(n)*uint64(dt.Size()))
	}
	return tensorHeader{dtype: dt, shape: shape, span: span{begin: offs[0], end: offs[1], n: n}}, nil
}

// checkSpans requires the tensors to tile the data section exactly, as the
// reference implementation does: overlaps would alias weights, gaps and a
// length mismatch mean truncation or corruption.
func checkSpans(spans []span, f *File, dataLen uint64) error {
	order := make([]int, len(spans))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		if spans[a].begin != spans[b].begin {
			if spans[a].begin < spans[b].begin {
				return -1
			}
			return 1
		}
		if spans[a].end < spans[b].end {
			return -1
		}
		if spans[a].end > spans[b].end {
			return 1
		}
		return 0
	})
	var pos uint64
	for _, i := range order {
		s := spans[i]
		name := f.entries[i].Name
		switch {
		case s.begin < pos:
			return fmt.Errorf("safetensors: tensor %q: data_offsets [%d,%d] overlap the previous tensor (which ends at %d)", name, s.begin, s.end, pos)
		case s.begin > pos:
			return fmt.Errorf("safetensors: tensor %q: data_offsets [%d,%d] leave a gap after byte %d", name, s.begin, s.end, pos)
		case s.end > dataLen:
			return fmt.Errorf("safetensors: tensor %q: data_offsets [%d,%d] run past the %d byte data section (truncated?)", name, s.begin, s.end, dataLen)
		}
		pos = s.end
	}
	if pos != dataLen {
		return fmt.Errorf("safetensors: data section is %d bytes but the tensors cover %d", dataLen, pos)
	}
	return nil
}

// readData fills dst with len(dst) values of dtype read from r at off.
func readData(r io.ReaderAt, off int64, buf []byte, dst []float32, dtype DType) error {
	size := dtype.Size()
	per := len(buf) / size
	for len(dst) > 0 {
		n := min(per, len(dst))
		b := buf[:n*size]
		// ReaderAt may report io.EOF along with a complete read that ends
		// at the end of the file, so only a short count is an error.
		if m, err := r.ReadAt(b, off); m < len(b) {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		switch dtype {
		case F32:
			for i := range dst[:n] {
				dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
			}
		case F16:
			for i := range dst[:n] {
				dst[i] = F16ToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
			}
		case BF16:
			for i := range dst[:n] {
				dst[i] = BF16ToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
			}
		}
		dst = dst[n:]
		off += int64(len(b))
	}
	return nil
}

// numel is the element count of shape, refusing negative dimensions and
// products that overflow int.
func numel(shape []int) (int, error) {
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension in shape %v", shape)
		}
	}
	n := 1
	for _, d := range shape {
		if d == 0 {
			return 0, nil
		}
		if n > math.MaxInt/d {
			return 0, fmt.Errorf("shape %v has more elements than fit in an int", shape)
		}
		n *= d
	}
	return n, nil
}
