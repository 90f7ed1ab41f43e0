package featdist

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/zoomdiff/zoomdiff/engine/safetensors"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
	"github.com/zoomdiff/zoomdiff/imageio"
)

// Inception-v3 for FID.
//
// The network is the pool3 trunk of torchvision's Inception3 as used by
// pytorch-fid (FIDInceptionA/C/E_1/E_2), loaded from a safetensors file
// that holds the PyTorch state dict under its usual names. Each
// BasicConv2d is a bias-free convolution, a BatchNorm2d (eps 0.001) and a
// ReLU, stored as
//
//	<layer>.conv.weight        [Cout, Cin, KH, KW]
//	<layer>.bn.weight          [Cout]   (γ)
//	<layer>.bn.bias            [Cout]   (β)
//	<layer>.bn.running_mean    [Cout]
//	<layer>.bn.running_var     [Cout]
//
// for the layers listed by InceptionTensors, e.g. "Conv2d_1a_3x3",
// "Mixed_5b.branch5x5_1", "Mixed_6b.branch7x7dbl_3", "Mixed_7c.branch_pool".
// Other tensors in the file (fc.*, AuxLogits.*, bn.num_batches_tracked)
// are ignored. A common prefix such as "module." or "model." is found and
// stripped automatically. Weights may be F32, F16 or BF16.
//
// At load time each batch norm is folded into its convolution (inference
// statistics are constants), so a BasicConv2d runs as one convolution with
// a bias followed by ReLU.
//
// Images are resized to 299×299 with bilinear interpolation (PyTorch's
// align_corners=False, no antialiasing, as pytorch-fid does) and mapped
// from [0, 1] to [−1, 1]. The feature is the 2048-wide global average of
// the last block's output.

// Inception variants: which pooling the branch_pool of blocks A, C and E use.
const (
	// VariantFID is pytorch-fid's FIDInception: average pools exclude the
	// padding (count_include_pad=False) and Mixed_7c max-pools, matching
	// the TensorFlow graph the reference FID statistics were made with.
	VariantFID = "fid"
	// VariantTorchvision is torchvision's Inception3: padded average pools
	// count the zeros, and Mixed_7c average-pools.
	VariantTorchvision = "torchvision"
)

// InceptionConfig selects the network.
type InceptionConfig struct {
	// Variant is VariantFID (the default when empty) or VariantTorchvision.
	Variant string
	// Width multiplies every channel count (0 or 1: the real network).
	// Only tests use other values, to run the architecture at toy size.
	Width float64
	// InputSize is the side images are resized to (0: 299). The trunk
	// needs at least 75.
	InputSize int
	// Batch is the number of images per forward pass (0: 8).
	Batch int
}

func (c InceptionConfig) withDefaults() (InceptionConfig, error) {
	if c.Variant == "" {
		c.Variant = VariantFID
	}
	if c.Variant != VariantFID && c.Variant != VariantTorchvision {
		return c, fmt.Errorf("inception: unknown variant %q (have %s, %s)", c.Variant, VariantFID, VariantTorchvision)
	}
	if c.Width == 0 {
		c.Width = 1
	}
	if c.Width < 0 || math.IsNaN(c.Width) || math.IsInf(c.Width, 0) {
		return c, fmt.Errorf("inception: bad width %v", c.Width)
	}
	if c.InputSize == 0 {
		c.InputSize = 299
	}
	if c.InputSize < 75 {
		return c, fmt.Errorf("inception: input size %d is below the minimum of 75", c.InputSize)
	}
	if c.Batch <= 0 {
		c.Batch = 8
	}
	return c, nil
}

// ch scales a channel count by the width multiplier.
func (c InceptionConfig) ch(n int) int { return max(1, int(math.Round(float64(n)*c.Width))) }

// TensorSpec is a tensor the Inception loader reads: its name and shape.
type TensorSpec struct {
	Name  string // e.g. "Mixed_6b.branch7x7_2.conv.weight"
	Shape []int  // PyTorch layout, e.g. [Cout, Cin, KH, KW]
}

// basicConv is a BasicConv2d with its batch norm folded in.
type basicConv struct {
	w, b       *tensor.Tensor // [KH,KW,Cin,Cout], [Cout]
	stride     int
	padH, padW int
	cout       int
}

func (c *basicConv) forward(x *tensor.Tensor) *tensor.Tensor {
	var tp *tensor.Tape // inference only
	pad := c.padH
	if c.padH != c.padW {
		x = tp.Pad(x, c.padH, c.padH, c.padW, c.padW)
		pad = 0
	}
	return tp.ReLU(tp.Conv2D(x, c.w, c.b, c.stride, pad))
}

// builder walks the architecture once, either listing the tensors it
// needs (file nil) or loading and folding them from file.
type builder struct {
	cfg    InceptionConfig
	file   *safetensors.File
	prefix string
	specs  []TensorSpec
	errs   []string
}

// conv declares the BasicConv2d called name.
func (b *builder) conv(name string, cin, cout, kh, kw, stride, padH, padW int) *basicConv {
	c := &basicConv{cout: cout, stride: stride, padH: padH, padW: padW}
	wName := name + ".conv.weight"
	wShape := []int{cout, cin, kh, kw}
	bnNames := [4]string{name + ".bn.weight", name + ".bn.bias", name + ".bn.running_mean", name + ".bn.running_var"}
	b.specs = append(b.specs, TensorSpec{wName, wShape})
	for _, n := range bnNames {
		b.specs = append(b.specs, TensorSpec{n, []int{cout}})
	}
	if b.file == nil {
		return c
	}
	w := b.get(wName, wShape)
	var bn [4][]float32
	for i, n := range bnNames {
		bn[i] = b.get(n, []int{cout})
	}
	if w == nil || bn[0] == nil || bn[1] == nil || bn[2] == nil || bn[3] == nil {
		return c
	}
	// BN(y) = γ·(y − μ)/√(σ²+ε) + β is linear in y, so it folds into the
	// convolution: scale the weights of output channel o by s_o and use
	// β − μ·s as the bias.
	const eps = 1e-3
	c.w = tensor.New(kh, kw, cin, cout)
	c.b = tensor.New(cout)
	for o := 0; o < cout; o++ {
		v := float64(bn[3][o])
		if v < 0 || math.IsNaN(v) {
			b.errs = append(b.errs, fmt.Sprintf("%s[%d] = %v is not a variance", bnNames[3], o, v))
			return c
		}
		s := float64(bn[0][o]) / math.Sqrt(v+eps)
		c.b.Data[o] = float32(float64(bn[1][o]) - float64(bn[2][o])*s)
		for i := 0; i < cin; i++ {
			for y := 0; y < kh; y++ {
				for x := 0; x < kw; x++ {
					// PyTorch [Cout,Cin,KH,KW] → engine [KH,KW,Cin,Cout].
					c.w.Data[((y*kw+x)*cin+i)*cout+o] = float32(float64(w[((o*cin+i)*kh+y)*kw+x]) * s)
				}
			}
		}
	}
	return c
}

// get fetches a tensor by name and checks its shape, recording problems
// rather than stopping so that one error lists them all.
func (b *builder) get(name string, shape []int) []float32 {
	e, ok := b.file.Get(b.prefix + name)
	if !ok {
		b.errs = append(b.errs, "missing "+b.prefix+name)
		return nil
	}
	if !tensor.SameShape(e.Shape, shape) {
		b.errs = append(b.errs, fmt.Sprintf("%s has shape %v, want %v", b.prefix+name, e.Shape, shape))
		return nil
	}
	for _, v := range e.Data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			b.errs = append(b.errs, fmt.Sprintf("%s holds NaN or Inf", b.prefix+name))
			return nil
		}
	}
	return e.Data
}

// pointwise-pool kinds of a branch_pool.
const (
	poolAvgExclPad = iota // avg 3×3/1/1, count_include_pad=False
	poolAvgInclPad        // avg 3×3/1/1, count_include_pad=True
	poolMax               // max 3×3/1/1
)

// block is one Mixed_* module: branches (each a chain of convolutions,
// possibly ending in a pair applied side by side), optionally a pooling
// branch, concatenated in PyTorch's order.
type block struct {
	branches []branch
	out      int
}

// branch is a chain of convolutions; split, when set, is applied to the
// chain's output as two convolutions whose results are concatenated (the
// 1×3 / 3×1 pairs of block E). pool, when ≥ 0, pools the block input
// before the chain (branch_pool); stridedPool is the 3×3 stride-2 max
// pool of blocks B and D, which has no convolution at all.
type branch struct {
	pool        int
	stridedPool bool
	chain       []*basicConv
	split       [2]*basicConv
}

func (br *branch) forward(x *tensor.Tensor) *tensor.Tensor {
	switch {
	case br.stridedPool:
		return maxPool(x, 3, 2, 0)
	case br.pool == poolMax:
		x = maxPool(x, 3, 1, 1)
	case br.pool == poolAvgExclPad:
		x = avgPool3(x, false)
	case br.pool == poolAvgInclPad:
		x = avgPool3(x, true)
	}
	for _, c := range br.chain {
		x = c.forward(x)
	}
	if br.split[0] != nil {
		var tp *tensor.Tape
		return tp.Concat(br.split[0].forward(x), br.split[1].forward(x))
	}
	return x
}

func (bl *block) forward(x *tensor.Tensor) *tensor.Tensor {
	outs := make([]*tensor.Tensor, len(bl.branches))
	for i := range bl.branches {
		outs[i] = bl.branches[i].forward(x)
	}
	var tp *tensor.Tape
	return tp.Concat(outs...)
}

func plain(cs ...*basicConv) branch { return branch{pool: -1, chain: cs} }

// Inception is the Inception-v3 feature network.
type Inception struct {
	cfg    InceptionConfig
	stem   []*basicConv // with max pools after the 3rd and 5th
	blocks []*block
	dim    int
}

// build declares the whole architecture on b. The channel arithmetic
// follows torchvision's Inception3 exactly at width 1. The order of the
// declarations is the network order InceptionTensors reports.
func build(b *builder) *Inception {
	a := &arch{builder: b, m: &Inception{cfg: b.cfg}, avg: poolAvgExclPad}
	if b.cfg.Variant == VariantTorchvision {
		a.avg = poolAvgInclPad
	}
	a.stem()
	a.blockA("Mixed_5b", 32)
	a.blockA("Mixed_5c", 64)
	a.blockA("Mixed_5d", 64)
	a.blockB("Mixed_6a")
	a.blockC("Mixed_6b", 128)
	a.blockC("Mixed_6c", 160)
	a.blockC("Mixed_6d", 160)
	a.blockC("Mixed_6e", 192)
	a.blockD("Mixed_7a")
	a.blockE("Mixed_7b", a.avg)
	last := a.avg
	if b.cfg.Variant == VariantFID {
		last = poolMax
	}
	a.blockE("Mixed_7c", last)
	a.m.dim = a.in
	return a.m
}

// arch is build's state while it declares the network: the model so far,
// the channel count the next block receives and the average pool the
// variant's branch_pools use.
type arch struct {
	*builder
	m   *Inception
	in  int
	avg int
}

// one is a 1×1 convolution.
func (a *arch) one(name string, cin, cout int) *basicConv {
	return a.conv(name, cin, cout, 1, 1, 1, 0, 0)
}

// sq is a k×k convolution.
func (a *arch) sq(name string, cin, cout, k, stride, pad int) *basicConv {
	return a.conv(name, cin, cout, k, k, stride, pad, pad)
}

// row is a 1×k convolution, padded to keep the size.
func (a *arch) row(name string, cin, cout, k int) *basicConv {
	return a.conv(name, cin, cout, 1, k, 1, 0, k/2)
}

// col is a k×1 convolution, padded to keep the size.
func (a *arch) col(name string, cin, cout, k int) *basicConv {
	return a.conv(name, cin, cout, k, 1, 1, k/2, 0)
}

// stem declares the convolutions before the first Mixed block.
func (a *arch) stem() {
	c := a.cfg.ch
	a.m.stem = []*basicConv{
		a.conv("Conv2d_1a_3x3", 3, c(32), 3, 3, 2, 0, 0),
		a.conv("Conv2d_2a_3x3", c(32), c(32), 3, 3, 1, 0, 0),
		a.conv("Conv2d_2b_3x3", c(32), c(64), 3, 3, 1, 1, 1),
		a.conv("Conv2d_3b_1x1", c(64), c(80), 1, 1, 1, 0, 0),
		a.conv("Conv2d_4a_3x3", c(80), c(192), 3, 3, 1, 0, 0),
	}
	a.in = c(192)
}

// add appends bl, counting its output channels, which the next block
// receives.
func (a *arch) add(bl *block) {
	bl.out = 0
	for _, br := range bl.branches {
		switch {
		case br.stridedPool:
			bl.out += a.in
		case br.split[0] != nil:
			bl.out += br.split[0].cout + br.split[1].cout
		default:
			bl.out += br.chain[len(br.chain)-1].cout
		}
	}
	a.m.blocks = append(a.m.blocks, bl)
	a.in = bl.out
}

// blockA is InceptionA (Mixed_5b–5d).
func (a *arch) blockA(name string, poolFeatures int) {
	c, in, p := a.cfg.ch, a.in, name+"."
	a.add(&block{branches: []branch{
		plain(a.one(p+"branch1x1", in, c(64))),
		plain(a.one(p+"branch5x5_1", in, c(48)), a.sq(p+"branch5x5_2", c(48), c(64), 5, 1, 2)),
		plain(a.one(p+"branch3x3dbl_1", in, c(64)), a.sq(p+"branch3x3dbl_2", c(64), c(96), 3, 1, 1), a.sq(p+"branch3x3dbl_3", c(96), c(96), 3, 1, 1)),
		{pool: a.avg, chain: []*basicConv{a.one(p+"branch_pool", in, c(poolFeatures))}},
	}})
}

// blockB is InceptionB (Mixed_6a), which halves the resolution.
func (a *arch) blockB(name string) {
	c, in, p := a.cfg.ch, a.in, name+"."
	a.add(&block{branches: []branch{
		plain(a.sq(p+"branch3x3", in, c(384), 3, 2, 0)),
		plain(a.one(p+"branch3x3dbl_1", in, c(64)), a.sq(p+"branch3x3dbl_2", c(64), c(96), 3, 1, 1), a.sq(p+"branch3x3dbl_3", c(96), c(96), 3, 2, 0)),
		{pool: -1, stridedPool: true},
	}})
}

// blockC is InceptionC (Mixed_6b–6e) with c7 channels in its 7×7
// factorisations.
func (a *arch) blockC(name string, c7 int) {
	c, in, p := a.cfg.ch, a.in, name+"."
	a.add(&block{branches: []branch{
		plain(a.one(p+"branch1x1", in, c(192))),
		plain(a.one(p+"branch7x7_1", in, c(c7)), a.row(p+"branch7x7_2", c(c7), c(c7), 7), a.col(p+"branch7x7_3", c(c7), c(192), 7)),
		plain(a.one(p+"branch7x7dbl_1", in, c(c7)), a.col(p+"branch7x7dbl_2", c(c7), c(c7), 7), a.row(p+"branch7x7dbl_3", c(c7), c(c7), 7),
			a.col(p+"branch7x7dbl_4", c(c7), c(c7), 7), a.row(p+"branch7x7dbl_5", c(c7), c(192), 7)),
		{pool: a.avg, chain: []*basicConv{a.one(p+"branch_pool", in, c(192))}},
	}})
}

// blockD is InceptionD (Mixed_7a), which halves the resolution.
func (a *arch) blockD(name string) {
	c, in, p := a.cfg.ch, a.in, name+"."
	a.add(&block{branches: []branch{
		plain(a.one(p+"branch3x3_1", in, c(192)), a.sq(p+"branch3x3_2", c(192), c(320), 3, 2, 0)),
		plain(a.one(p+"branch7x7x3_1", in, c(192)), a.row(p+"branch7x7x3_2", c(192), c(192), 7),
			a.col(p+"branch7x7x3_3", c(192), c(192), 7), a.sq(p+"branch7x7x3_4", c(192), c(192), 3, 2, 0)),
		{pool: -1, stridedPool: true},
	}})
}

// blockE is InceptionE (Mixed_7b, 7c); pool is its branch_pool's kind,
// which differs between the two blocks in pytorch-fid's variant.
func (a *arch) blockE(name string, pool int) {
	c, in, p := a.cfg.ch, a.in, name+"."
	a.add(&block{branches: []branch{
		plain(a.one(p+"branch1x1", in, c(320))),
		{pool: -1, chain: []*basicConv{a.one(p+"branch3x3_1", in, c(384))},
			split: [2]*basicConv{a.row(p+"branch3x3_2a", c(384), c(384), 3), a.col(p+"branch3x3_2b", c(384), c(384), 3)}},
		{pool: -1, chain: []*basicConv{a.one(p+"branch3x3dbl_1", in, c(448)), a.sq(p+"branch3x3dbl_2", c(448), c(384), 3, 1, 1)},
			split: [2]*basicConv{a.row(p+"branch3x3dbl_3a", c(384), c(384), 3), a.col(p+"branch3x3dbl_3b", c(384), c(384), 3)}},
		{pool: pool, chain: []*basicConv{a.one(p+"branch_pool", in, c(192))}},
	}})
}

// InceptionTensors lists the tensors LoadInception reads for cfg, in
// network order: the expected names and PyTorch shapes.
func InceptionTensors(cfg InceptionConfig) ([]TensorSpec, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	b := &builder{cfg: cfg}
	build(b)
	return b.specs, nil
}

// anchorTensor is the first tensor of the network, used to find a prefix.
const anchorTensor = "Conv2d_1a_3x3.conv.weight"

// LoadInception reads Inception-v3 weights from a safetensors file.
func LoadInception(path string, cfg InceptionConfig) (*Inception, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("inception weights %s: %w", path, err)
	}
	m, err := NewInception(f, cfg)
	if err != nil {
		return nil, fmt.Errorf("inception weights %s: %w", path, err)
	}
	return m, nil
}

// NewInception builds the network from an opened safetensors file. Every
// missing or misshapen tensor is listed in the error.
func NewInception(f *safetensors.File, cfg InceptionConfig) (*Inception, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	prefix, err := findPrefix(f)
	if err != nil {
		return nil, err
	}
	b := &builder{cfg: cfg, file: f, prefix: prefix}
	m := build(b)
	if len(b.errs) > 0 {
		const show = 12
		msg := b.errs
		more := ""
		if len(msg) > show {
			more = fmt.Sprintf("; and %d more", len(msg)-show)
			msg = msg[:show]
		}
		return nil, fmt.Errorf("%d problems with the Inception-v3 tensors (see featdist.InceptionTensors for the layout): %s%s",
			len(b.errs), strings.Join(msg, "; "), more)
	}
	return m, nil
}

// findPrefix returns what precedes the anchor tensor's name in f ("" for a
// plain state dict, e.g. "module." for one saved from DataParallel).
func findPrefix(f *safetensors.File) (string, error) {
	if _, ok := f.Get(anchorTensor); ok {
		return "", nil
	}
	var found []string
	for _, n := range f.Names() {
		if p, ok := strings.CutSuffix(n, anchorTensor); ok && (p == "" || strings.HasSuffix(p, ".")) {
			found = append(found, p)
		}
	}
	switch len(found) {
	case 0:
		names := f.Names()
		sort.Strings(names)
		if len(names) > 5 {
			names = append(names[:5], "…")
		}
		return "", fmt.Errorf("no tensor named %s (or ending in it): not Inception-v3 weights in the torchvision/pytorch-fid layout? file has %d tensors: %s",
			anchorTensor, f.Len(), strings.Join(names, ", "))
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("several networks in one file (prefixes %q): cannot tell which is Inception-v3", found)
}

// FeatureDim is 2048 for the real network.
func (m *Inception) FeatureDim() int { return m.dim }

// Forward runs the trunk on x [N,S,S,3] (already resized, values in
// [−1, 1]) and returns the pooled features [N,FeatureDim].
func (m *Inception) Forward(x *tensor.Tensor) *tensor.Tensor {
	for i, c := range m.stem {
		x = c.forward(x)
		if i == 2 || i == 4 {
			x = maxPool(x, 3, 2, 0)
		}
	}
	for _, bl := range m.blocks {
		x = bl.forward(x)
	}
	return globalAvgPool(nil, x)
}

// Features returns the pool3 features of imgs, row by row.
func (m *Inception) Features(imgs []*imageio.Image) ([]float64, error) {
	s := m.cfg.InputSize
	out := make([]float64, 0, len(imgs)*m.dim)
	for lo := 0; lo < len(imgs); lo += m.cfg.Batch {
		part := imgs[lo:min(lo+m.cfg.Batch, len(imgs))]
		x := tensor.New(len(part), s, s, 3)
		for i, img := range part {
			if err := img.Check(); err != nil {
				return nil, fmt.Errorf("image %d: %w", lo+i, err)
			}
			var tp *tensor.Tape
			r := tp.ResizeBilinear(tensor.FromData(img.Pix, 1, img.H, img.W, 3), s, s)
			dst := x.Data[i*s*s*3 : (i+1)*s*s*3]
			for j, v := range r.Data {
				dst[j] = 2*v - 1
			}
		}
		f := m.Forward(x)
		for _, v := range f.Data {
			out = append(out, float64(v))
		}
	}
	return out, nil
}

// FID is the Fréchet Inception Distance between two image sets, with the
// Inception-v3 weights (pytorch-fid layout, see InceptionTensors) read
// from a safetensors file. It is the standard number only with the
// standard weights (pytorch-fid's pt_inception-2015-12-05 converted to
// safetensors) and thousands of images per set; with few images it is
// strongly biased upwards. On a CPU each 299×299 image costs about
// 6 GFLOP.
func FID(weightsPath string, setA, setB []*imageio.Image) (float64, error) {
	m, err := LoadInception(weightsPath, InceptionConfig{})
	if err != nil {
		return 0, err
	}
	return FrechetDistance(m, setA, setB)
}

// maxPool is a k×k max pool with the given stride and padding (padding
// never wins: it counts as −∞), floor-mode as PyTorch's default.
// Inference only, so it is plain Go rather than a taped operation.
func maxPool(x *tensor.Tensor, k, stride, pad int) *tensor.Tensor {
	n, h, w, c := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	oh, ow := (h+2*pad-k)/stride+1, (w+2*pad-k)/stride+1
	if oh < 1 || ow < 1 {
		panic(fmt.Sprintf("featdist: max pool %d/%d of %v", k, stride, x.Shape)) // sizes come from the fixed architecture
	}
	out := tensor.New(n, oh, ow, c)
	for b := 0; b < n; b++ {
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				d := out.Data[((b*oh+oy)*ow+ox)*c:][:c]
				for i := range d {
					d[i] = float32(math.Inf(-1))
				}
				for ky := 0; ky < k; ky++ {
					iy := oy*stride - pad + ky
					if iy < 0 || iy >= h {
						continue
					}
					for kx := 0; kx < k; kx++ {
						ix := ox*stride - pad + kx
						if ix < 0 || ix >= w {
							continue
						}
						for i, v := range x.Data[((b*h+iy)*w+ix)*c:][:c] {
							d[i] = max(d[i], v)
						}
					}
				}
			}
		}
	}
	return out
}

// avgPool3 is the 3×3, stride-1, padding-1 average pool of the
// branch_pool paths: inclPad divides by 9 everywhere (PyTorch's default),
// otherwise by the number of taps inside the image.
func avgPool3(x *tensor.Tensor, inclPad bool) *tensor.Tensor {
	n, h, w, c := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	out := tensor.New(n, h, w, c)
	for b := 0; b < n; b++ {
		for oy := 0; oy < h; oy++ {
			for ox := 0; ox < w; ox++ {
				d := out.Data[((b*h+oy)*w+ox)*c:][:c]
				taps := 0
				for iy := max(oy-1, 0); iy <= min(oy+1, h-1); iy++ {
					for ix := max(ox-1, 0); ix <= min(ox+1, w-1); ix++ {
						taps++
						for i, v := range x.Data[((b*h+iy)*w+ix)*c:][:c] {
							d[i] += v
						}
					}
				}
				inv := 1 / float32(taps)
				if inclPad {
					inv = 1.0 / 9
				}
				for i := range d {
					d[i] *= inv
				}
			}
		}
	}
	return out
}
