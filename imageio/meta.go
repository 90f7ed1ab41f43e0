package imageio

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
)

// MaxICC is the largest ICC profile read from or written to a file, 16 MiB.
// Real profiles are a few hundred bytes to a few megabytes; the bound keeps
// a crafted zlib stream in a PNG from inflating without limit, and JPEG
// cannot carry more than 255 APP2 segments (about 16 MiB) anyway.
const MaxICC = 16 << 20

// Info is what an image file says about itself in its headers, read
// without decoding the pixels.
type Info struct {
	// Format is "png", "jpeg", "bmp", "webp", "tiff" or "gif".
	Format string
	// W and H are the size as displayed (orientation applied).
	W, H int
	// Depth is the bits per sample: 16 for 16-bit PNGs and TIFFs, else 8.
	Depth int
	// ICC is the embedded colour profile, nil when there is none (or when
	// it is malformed, or not for RGB or grey pixels: the pixels are
	// still good).
	ICC []byte
	// JPEGQuality is, for a JPEG, the quality (1–100, libjpeg's scale) it
	// was most likely saved at, estimated from its luminance quantisation
	// table; 0 for other formats or a JPEG without one.
	JPEGQuality int
}

// Probe reads the headers of the image file at path: its format, size, bit
// depth and colour profile, exactly as Read would set them, without
// decoding any pixel. Errors name the file.
func Probe(path string) (Info, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Info{}, fmt.Errorf("decode %s: %w", path, err)
	}
	in, err := ProbeBytes(data)
	if err != nil {
		return Info{}, fmt.Errorf("decode %s: %w", path, err)
	}
	return in, nil
}

// ProbeBytes is Probe of an in-memory file. It returns ErrUnsupported
// (wrapped) for data in none of FormatNames.
func ProbeBytes(data []byte) (in Info, err error) {
	// As in Decode: a header parser's panic must not take a batch or a
	// server down.
	defer func() {
		if r := recover(); r != nil {
			in, err = Info{}, fmt.Errorf("header parser panicked: %v", r)
		}
	}()
	f, w, h, err := header(data)
	if err != nil {
		return Info{}, err
	}
	return Info{Format: f.name, W: w, H: h, Depth: depthOf(f.name, data), ICC: iccOf(f.name, data), JPEGQuality: jpegQualityOf(f.name, data)}, nil
}

func formatOf(data []byte) *format {
	for i := range formats {
		if formats[i].magic(data) {
			return &formats[i]
		}
	}
	return nil
}

// depthOf is the bits per sample of a file: the IHDR bit depth for PNG
// (16, or 8 for 8 and fewer), TIFF's BitsPerSample likewise, 8 for the
// other formats, which Go decodes only at 8 bits.
func depthOf(format string, data []byte) int {
	switch {
	case format == "png" && len(data) > 24 && data[24] == 16:
		return 16
	case format == "tiff":
		return tiffDepth(data)
	}
	return 8
}

// orientationOf is the orientation (1–8, 1 when none) recorded in a
// file: the EXIF block of a JPEG, PNG or WebP, or a TIFF's own tag. Every
// one is applied to the pixels, since the EXIF carried to the outputs says
// 1 (exifOf).
func orientationOf(format string, data []byte) int {
	if format == "tiff" {
		return max(1, tiffOrientation(data))
	}
	if b := rawEXIF(format, data); isTIFF(b) {
		return max(1, tiffOrientation(b))
	}
	return 1
}

// iccOf returns the ICC profile embedded in a file of the given format, or
// nil when there is none, it is malformed, or it is not for the decoded
// pixels (see iccForDecoded).
func iccOf(format string, data []byte) []byte {
	var prof []byte
	switch format {
	case "png":
		prof = pngICC(data)
	case "jpeg":
		prof = jpegICC(data)
	case "webp":
		prof = webpICC(data)
	case "tiff":
		prof = tiffICC(data)
	}
	if !iccForDecoded(prof) {
		return nil
	}
	return prof
}

// iccForDecoded reports whether a profile describes pixels as Decode
// returns them: RGB or grey. A CMYK JPEG's profile (colour space "CMYK"
// at bytes 16–19 of the header) does not: the decoder has converted the
// pixels to RGB, and embedded in an RGB output the profile would be
// invalid (libpng drops it with a warning) or misread.
func iccForDecoded(prof []byte) bool {
	if len(prof) < 20 {
		return false
	}
	switch string(prof[16:20]) {
	case "RGB ", "GRAY":
		return true
	}
	return false
}

// pngChunk returns the data of the first chunk of type typ before the
// image data (IDAT) of a PNG file, or nil.
func pngChunk(data []byte, typ string) []byte {
	p := 8
	for p+12 <= len(data) {
		n := int64(binary.BigEndian.Uint32(data[p:]))
		if n > int64(len(data)-p-12) {
			return nil
		}
		switch t := string(data[p+4 : p+8]); t {
		case typ:
			return data[p+8 : p+8+int(n)]
		case "IDAT", "IEND":
			return nil
		}
		p += 12 + int(n)
	}
	return nil
}

// pngICC reads the iCCP chunk (profile name, NUL, compression method 0,
// zlib stream) that precedes the image data.
func pngICC(data []byte) []byte {
	body := pngChunk(data, "iCCP")
	i := bytes.IndexByte(body, 0)
	if i < 1 || i > 79 || i+2 > len(body) || body[i+1] != 0 {
		return nil
	}
	zr, err := zlib.NewReader(bytes.NewReader(body[i+2:]))
	if err != nil {
		return nil
	}
	prof, err := io.ReadAll(io.LimitReader(zr, MaxICC+1))
	if err != nil || len(prof) == 0 || len(prof) > MaxICC {
		return nil
	}
	return prof
}

// iccMarker opens every APP2 segment that carries a piece of an ICC
// profile; a sequence number (from 1) and the segment count follow it.
const iccMarker = "ICC_PROFILE\x00"

// jpegICC joins the profile pieces of a JPEG's APP2 segments in sequence
// order. Missing, repeated or inconsistent pieces make the profile count
// as absent.
func jpegICC(data []byte) []byte {
	var parts [][]byte
	ok := true
	jpegSegments(data, func(marker byte, seg []byte) bool {
		if marker != 0xE2 || len(seg) < len(iccMarker)+2 || string(seg[:len(iccMarker)]) != iccMarker {
			return true
		}
		seq, count := int(seg[len(iccMarker)]), int(seg[len(iccMarker)+1])
		if parts == nil {
			parts = make([][]byte, count)
		}
		if count != len(parts) || seq < 1 || seq > count || parts[seq-1] != nil {
			ok = false
			return false
		}
		parts[seq-1] = seg[len(iccMarker)+2:]
		return true
	})
	if !ok || len(parts) == 0 {
		return nil
	}
	var prof []byte
	for _, p := range parts {
		if p == nil {
			return nil
		}
		prof = append(prof, p...)
	}
	if len(prof) == 0 {
		return nil
	}
	return prof
}

// webpChunk returns the data of the first chunk fourcc of an extended
// (VP8X) WebP file, or nil.
func webpChunk(data []byte, fourcc string) []byte {
	p := 12
	for p+8 <= len(data) {
		n := int64(binary.LittleEndian.Uint32(data[p+4:]))
		if n > int64(len(data)-p-8) {
			return nil
		}
		if string(data[p:p+4]) == fourcc {
			return data[p+8 : p+8+int(n)]
		}
		p += 8 + int(n) + int(n&1) // chunks are padded to an even size
	}
	return nil
}

// webpICC reads the ICCP chunk of an extended (VP8X) WebP file.
func webpICC(data []byte) []byte {
	prof := webpChunk(data, "ICCP")
	if len(prof) == 0 || len(prof) > MaxICC {
		return nil
	}
	return bytes.Clone(prof) // not a view that would pin the whole file
}

// ICCPChunk returns a whole PNG iCCP chunk (length, type, data, CRC)
// holding prof, the chunk Encode inserts after IHDR; pngstream writes the
// same one.
func ICCPChunk(prof []byte) ([]byte, error) {
	if len(prof) > MaxICC {
		return nil, fmt.Errorf("ICC profile of %d bytes is over the limit of %d", len(prof), MaxICC)
	}
	var body bytes.Buffer
	body.WriteString("ICC Profile\x00\x00") // name, its terminator, compression method 0 (deflate)
	zw := zlib.NewWriter(&body)
	if _, err := zw.Write(prof); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return PNGChunk("iCCP", body.Bytes()), nil
}

// PNGChunk returns a whole PNG chunk: length, type, data and CRC.
func PNGChunk(typ string, data []byte) []byte {
	chunk := make([]byte, 8, len(data)+12)
	binary.BigEndian.PutUint32(chunk, uint32(len(data)))
	copy(chunk[4:], typ)
	chunk = append(chunk, data...)
	return binary.BigEndian.AppendUint32(chunk, crc32.ChecksumIEEE(chunk[4:]))
}

// jpegICCMax is the most profile bytes one APP2 segment carries: 65535,
// less the length field, the marker string, the sequence number and count.
const jpegICCMax = 65535 - 2 - len(iccMarker) - 2

// jpegICCSegments is prof as APP2 segments, split every jpegICCMax bytes.
func jpegICCSegments(prof []byte) ([]byte, error) {
	count := (len(prof) + jpegICCMax - 1) / jpegICCMax
	if count > 255 {
		return nil, fmt.Errorf("ICC profile of %d bytes is too large for JPEG (at most %d)", len(prof), 255*jpegICCMax)
	}
	out := make([]byte, 0, len(prof)+count*18)
	for i := range count {
		part := prof[i*jpegICCMax : min((i+1)*jpegICCMax, len(prof))]
		out = append(out, 0xFF, 0xE2)
		out = binary.BigEndian.AppendUint16(out, uint16(2+len(iccMarker)+2+len(part)))
		out = append(out, iccMarker...)
		out = append(out, byte(i+1), byte(count))
		out = append(out, part...)
	}
	return out, nil
}

// insertWriter passes its bytes through to w, except that after the first
// len(head) bytes, which it checks against check, it writes ins. It lets
// metadata the standard encoders cannot write go in at the byte level
// without holding the encoded file.
type insertWriter struct {
	w     io.Writer
	head  []byte // the bytes before the insertion point, as they arrive
	want  int    // how many bytes come before the insertion point
	check func(head []byte) error
	ins   []byte
	done  bool
}

func (iw *insertWriter) Write(p []byte) (int, error) {
	if iw.done {
		return iw.w.Write(p)
	}
	k := min(len(p), iw.want-len(iw.head))
	iw.head = append(iw.head, p[:k]...)
	if len(iw.head) < iw.want {
		return len(p), nil
	}
	if err := iw.check(iw.head); err != nil {
		return 0, err
	}
	iw.done = true
	if _, err := iw.w.Write(iw.head); err != nil {
		return 0, err
	}
	if _, err := iw.w.Write(iw.ins); err != nil {
		return 0, err
	}
	n, err := iw.w.Write(p[k:])
	return k + n, err
}

// finish reports an encoder output too short to have reached the
// insertion point, which would otherwise lose the metadata silently.
func (iw *insertWriter) finish() error {
	if !iw.done {
		return errors.New("encoder output ended before the metadata could be inserted")
	}
	return nil
}

// withMeta wraps w so that the ICC profile and the EXIF block (either
// may be empty) are inserted where format f keeps them: after the IHDR
// chunk of a PNG (signature 8 bytes, IHDR 25), the iCCP chunk before
// eXIf; right after the SOI marker of a JPEG (the standard encoder writes
// no JFIF APP0, which would have to come first), the EXIF APP1 before the
// profile's APP2 segments. With neither it returns nil: w is used as is.
func withMeta(w io.Writer, f Format, prof, exif []byte) (*insertWriter, error) {
	if len(prof) == 0 && len(exif) == 0 {
		return nil, nil
	}
	if len(exif) > MaxEXIF {
		return nil, fmt.Errorf("EXIF block of %d bytes is over the limit of %d", len(exif), MaxEXIF)
	}
	var ins []byte
	switch f {
	case PNG:
		if len(prof) > 0 {
			chunk, err := ICCPChunk(prof)
			if err != nil {
				return nil, err
			}
			ins = chunk
		}
		if len(exif) > 0 {
			ins = append(ins, PNGChunk("eXIf", exif)...)
		}
		return &insertWriter{w: w, want: 33, ins: ins, check: func(h []byte) error {
			if string(h[12:16]) != "IHDR" {
				return errors.New("PNG encoder did not start with IHDR")
			}
			return nil
		}}, nil
	case JPEG:
		if len(exif) > 0 {
			ins = jpegEXIFSegment(exif)
		}
		if len(prof) > 0 {
			segs, err := jpegICCSegments(prof)
			if err != nil {
				return nil, err
			}
			ins = append(ins, segs...)
		}
		return &insertWriter{w: w, want: 2, ins: ins, check: func(h []byte) error {
			if h[0] != 0xFF || h[1] != 0xD8 {
				return errors.New("JPEG encoder did not start with SOI")
			}
			return nil
		}}, nil
	}
	return nil, fmt.Errorf("unknown format %d", f)
}
