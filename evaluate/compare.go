package evaluate

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
)

// Difference is one score of two methods compared image by image: the
// mean over the images both scored of B's score minus A's, and its
// standard error (the differences' sample standard deviation over √N; 0
// with one image). A mean within about two standard errors of 0 is what
// the images cannot tell apart from no difference. Images where the
// difference is not finite (a PSNR of +Inf, an output equal to its
// reference, on either side) are left out, so N can be below the images
// both scored.
type Difference struct {
	Mean, StdErr float64
	N            int // images in the mean
}

// Comparison is B against A on one dataset at one scale, crop and
// degradation, paired image by image (the same images, seeds and crops
// give both methods the same inputs, so per-image differences cancel
// what the images themselves contribute to either mean).
type Comparison struct {
	Dataset     string     `json:"dataset"`
	Scale       float64    `json:"scale"`
	Crop        int        `json:"crop,omitempty"`
	Degradation string     `json:"degradation,omitempty"`
	Images      int        `json:"images"` // images both scored
	PSNRY       Difference `json:"psnr_y"`
	SSIMY       Difference `json:"ssim_y"`
	GMSD        Difference `json:"gmsd"`
	// NIQE is over the images that both have a NIQE score (see Scores).
	NIQE   Difference `json:"niqe"`
	LRPSNR Difference `json:"lr_psnr"`
}

// Compare pairs the results of b with those of a on the same dataset,
// scale, crop and degradation and compares each pair image by image (by
// file name). Both need per-image scores (Config.PerImage, eval's
// --per-image). Results without a partner are left out; it fails when
// none pair, a pair shares no image, or either side holds two results of
// the same dataset, scale, crop and degradation (two folders of the same
// name, or a scale given twice), which could not be told apart.
func Compare(a, b []Result) ([]Comparison, error) {
	bs := make(map[resultKey]Result, len(b))
	for i, rs := range [][]Result{a, b} {
		seen := map[resultKey]bool{}
		for _, r := range rs {
			k := keyOf(r)
			if seen[k] {
				return nil, fmt.Errorf("%s has two results for %s: two datasets of that name, or a scale given twice", "AB"[i:i+1], k)
			}
			seen[k] = true
			if i == 1 {
				bs[k] = r
			}
		}
	}
	var out []Comparison
	for _, ra := range a {
		rb, ok := bs[keyOf(ra)]
		if !ok {
			continue
		}
		c, err := compare(ra, rb)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no dataset, scale, crop and degradation in common: A has %s; B has %s", keyList(a), keyList(b))
	}
	return out, nil
}

// resultKey is what Compare pairs results on.
type resultKey struct {
	dataset     string
	scale       float64
	crop        int
	degradation string
}

func keyOf(r Result) resultKey { return resultKey{r.Dataset, r.Scale, r.Crop, r.Degradation} }

// String names the key as the tables label a row: "Set5 (centre 96) jpeg:75 ×4".
func (k resultKey) String() string {
	return setLabel(k.dataset, k.crop, k.degradation) + " ×" + FormatScale(k.scale)
}

// keyList names the keys of rs, or says there are none.
func keyList(rs []Result) string {
	if len(rs) == 0 {
		return "no results"
	}
	names := make([]string, len(rs))
	for i, r := range rs {
		names[i] = keyOf(r).String()
	}
	return strings.Join(names, ", ")
}

// compare is Compare of one pair.
func compare(a, b Result) (Comparison, error) {
	name := keyOf(a)
	if len(a.PerImage) == 0 || len(b.PerImage) == 0 {
		return Comparison{}, fmt.Errorf("%s: no per-image scores (evaluate with --json --per-image)", name)
	}
	bs := make(map[string]Scores, len(b.PerImage))
	for _, s := range b.PerImage {
		bs[s.Name] = s.Scores
	}
	var d struct{ psnr, ssim, gmsd, niqe, lr []float64 }
	images := 0
	for _, sa := range a.PerImage {
		sb, ok := bs[sa.Name]
		if !ok {
			continue
		}
		images++
		d.psnr = appendFinite(d.psnr, sb.PSNRY-sa.PSNRY)
		d.ssim = appendFinite(d.ssim, sb.SSIMY-sa.SSIMY)
		d.gmsd = appendFinite(d.gmsd, sb.GMSD-sa.GMSD)
		d.lr = appendFinite(d.lr, sb.LRPSNR-sa.LRPSNR)
		if sa.NIQE > 0 && sb.NIQE > 0 {
			d.niqe = appendFinite(d.niqe, sb.NIQE-sa.NIQE)
		}
	}
	if images == 0 {
		return Comparison{}, fmt.Errorf("%s: the two results share no image", name)
	}
	return Comparison{Dataset: a.Dataset, Scale: a.Scale, Crop: a.Crop, Degradation: a.Degradation,
		Images: images, PSNRY: difference(d.psnr), SSIMY: difference(d.ssim), GMSD: difference(d.gmsd),
		NIQE: difference(d.niqe), LRPSNR: difference(d.lr)}, nil
}

// appendFinite appends x to v unless it is infinite or NaN.
func appendFinite(v []float64, x float64) []float64 {
	if math.IsInf(x, 0) || math.IsNaN(x) {
		return v
	}
	return append(v, x)
}

// difference is the mean of v and its standard error.
func difference(v []float64) Difference {
	n := len(v)
	if n == 0 {
		return Difference{}
	}
	var sum float64
	for _, x := range v {
		sum += x
	}
	mean := sum / float64(n)
	if n == 1 {
		return Difference{Mean: mean, N: 1}
	}
	var ss float64
	for _, x := range v {
		ss += (x - mean) * (x - mean)
	}
	return Difference{Mean: mean, StdErr: math.Sqrt(ss/float64(n-1)) / math.Sqrt(float64(n)), N: n}
}

// WriteComparisons prints comparisons as a table of B − A ± standard
// error per score, each dataset's row naming its images.
func WriteComparisons(w io.Writer, cs []Comparison) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "dataset\tscale\timages\tΔ PSNR-Y (dB)\tΔ SSIM-Y\tΔ GMSD\tΔ NIQE\tΔ LR-PSNR\t")
	for _, c := range cs {
		set := setLabel(c.Dataset, c.Crop, c.Degradation)
		fmt.Fprintf(tw, "%s\t×%s\t%d\t%s\t%s\t%s\t%s\t%s\t\n", set, FormatScale(c.Scale), c.Images, diffCell(c.PSNRY, c.Images, 3),
			diffCell(c.SSIMY, c.Images, 4), diffCell(c.GMSD, c.Images, 4), diffCell(c.NIQE, c.Images, 3), diffCell(c.LRPSNR, c.Images, 2))
	}
	return tw.Flush()
}

// diffCell prints a difference with prec decimals, marking one over only
// some of the images ("+0.120 ± 0.030 (3/5)") and a dash when it covers
// none.
func diffCell(d Difference, images, prec int) string {
	if d.N == 0 {
		return "–"
	}
	cell := fmt.Sprintf("%+.*f ± %.*f", prec, d.Mean, prec, d.StdErr)
	if d.N < images {
		cell += fmt.Sprintf(" (%d/%d)", d.N, images)
	}
	return cell
}
