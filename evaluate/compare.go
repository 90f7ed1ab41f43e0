package evaluate

import (
	"errors"
	"fmt"
	"io"
	"math"
	"text/tabwriter"
)

// Difference is one score of two methods compared image by image: the
// mean over the images both scored of B's score minus A's, and its
// standard error (the differences' sample standard deviation over √N; 0
// with one image). A mean within about two standard errors of 0 is what
// the images cannot tell apart from no difference.
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
// none pair, or a pair shares no image.
func Compare(a, b []Result) ([]Comparison, error) {
	var out []Comparison
	for _, ra := range a {
		for _, rb := range b {
			if ra.Dataset != rb.Dataset || ra.Scale != rb.Scale || ra.Crop != rb.Crop || ra.Degradation != rb.Degradation {
				continue
			}
			c, err := compare(ra, rb)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no dataset, scale, crop and degradation in common")
	}
	return out, nil
}

// compare is Compare of one pair.
func compare(a, b Result) (Comparison, error) {
	name := fmt.Sprintf("%s ×%s", a.Dataset, FormatScale(a.Scale))
	if len(a.PerImage) == 0 || len(b.PerImage) == 0 {
		return Comparison{}, fmt.Errorf("%s: no per-image scores (evaluate with --json --per-image)", name)
	}
	bs := make(map[string]Scores, len(b.PerImage))
	for _, s := range b.PerImage {
		bs[s.Name] = s.Scores
	}
	var d struct{ psnr, ssim, gmsd, niqe, lr []float64 }
	for _, sa := range a.PerImage {
		sb, ok := bs[sa.Name]
		if !ok {
			continue
		}
		d.psnr = append(d.psnr, sb.PSNRY-sa.PSNRY)
		d.ssim = append(d.ssim, sb.SSIMY-sa.SSIMY)
		d.gmsd = append(d.gmsd, sb.GMSD-sa.GMSD)
		d.lr = append(d.lr, sb.LRPSNR-sa.LRPSNR)
		if sa.NIQE > 0 && sb.NIQE > 0 {
			d.niqe = append(d.niqe, sb.NIQE-sa.NIQE)
		}
	}
	if len(d.psnr) == 0 {
		return Comparison{}, fmt.Errorf("%s: the two results share no image", name)
	}
	return Comparison{Dataset: a.Dataset, Scale: a.Scale, Crop: a.Crop, Degradation: a.Degradation,
		Images: len(d.psnr), PSNRY: difference(d.psnr), SSIMY: difference(d.ssim), GMSD: difference(d.gmsd),
		NIQE: difference(d.niqe), LRPSNR: difference(d.lr)}, nil
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
		niqe := "–"
		if c.NIQE.N > 0 {
			niqe = fmt.Sprintf("%+.3f ± %.3f", c.NIQE.Mean, c.NIQE.StdErr)
		}
		fmt.Fprintf(tw, "%s\t×%s\t%d\t%+.3f ± %.3f\t%+.4f ± %.4f\t%+.4f ± %.4f\t%s\t%+.2f ± %.2f\t\n", set, FormatScale(c.Scale), c.Images,
			c.PSNRY.Mean, c.PSNRY.StdErr, c.SSIMY.Mean, c.SSIMY.StdErr, c.GMSD.Mean, c.GMSD.StdErr, niqe, c.LRPSNR.Mean, c.LRPSNR.StdErr)
	}
	return tw.Flush()
}
