package evaluate

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
)

// WriteTable prints results as an aligned text table.
func WriteTable(w io.Writer, rs []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	multi := false
	for _, r := range rs {
		multi = multi || r.Samples > 1
	}
	head := "dataset\tmethod\tscale\timages\tPSNR-Y\tSSIM-Y\tPSNR-RGB\tLR-PSNR\tGMSD\tNIQE\t"
	if multi {
		head += "samples\tmean PSNR-Y\tmean SSIM-Y\tmean GMSD\tmean NIQE\tdiversity\t"
	}
	fmt.Fprintln(tw, head+"seconds\t")
	for _, r := range rs {
		set := setLabel(r.Dataset, r.Crop, r.Degradation)
		fmt.Fprintf(tw, "%s\t%s\t×%s\t%d\t%.3f\t%.4f\t%.3f\t%s\t%s\t%s\t",
			set, r.Method, FormatScale(r.Scale), r.Images, r.PSNRY, r.SSIMY, r.PSNRRGB,
			cell("%.2f", r.LRPSNR, !r.PSNRSSIMOnly), cell("%.4f", r.GMSD, !r.PSNRSSIMOnly), niqeCell(r.NIQE, r))
		if multi {
			m := r.Samples > 1 // a row of one sample has no mean or spread
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t", max(1, r.Samples), cell("%.3f", r.MeanPSNRY, m), cell("%.4f", r.MeanSSIMY, m),
				cell("%.4f", r.MeanGMSD, m), niqeCell(r.MeanNIQE, r), cell("%.2f", r.DiversityStd, m))
		}
		fmt.Fprintf(tw, "%.2f\t\n", r.Seconds)
	}
	return tw.Flush()
}

// cell prints a table's score with format, or a dash where it was not
// measured, so that a 0 is never read as a score.
func cell(format string, v float64, measured bool) string {
	if !measured {
		return "–"
	}
	return fmt.Sprintf(format, v)
}

// setLabel names a table row's images: the dataset, its centre crop and
// the degradation of its inputs.
func setLabel(dataset string, crop int, degradation string) string {
	if crop > 0 {
		dataset = fmt.Sprintf("%s (centre %d)", dataset, crop)
	}
	if degradation != "" {
		dataset += " " + degradation
	}
	return dataset
}

// niqeCell prints a NIQE average, marking one over only some of the
// images ("4.12 (3/5)"), and a dash where there is none: no image was
// large enough, or, for the samples' mean, there was one sample.
func niqeCell(v float64, r Result) string {
	switch {
	case r.NIQEImages == 0 || v == 0:
		return "–"
	case r.NIQEImages < r.Images:
		return fmt.Sprintf("%.3f (%d/%d)", v, r.NIQEImages, r.Images)
	}
	return fmt.Sprintf("%.3f", v)
}

// csvHeader names WriteCSV's columns, the JSON fields of Result.
var csvHeader = []string{"dataset", "method", "scale", "images", "crop", "degradation", "psnr_y", "ssim_y", "psnr_rgb", "lr_psnr", "gmsd", "niqe",
	"niqe_images", "samples", "mean_psnr_y", "mean_ssim_y", "mean_gmsd", "mean_niqe", "diversity_std", "seconds"}

// WriteCSV prints results as CSV with a header row, e.g. for
// `zoomdiff plot -x psnr_y -y niqe`. A score that was not measured (a
// dash in the table, left out or null in the JSON) is an empty cell, not
// a 0 that would read, and plot, as a score.
func WriteCSV(w io.Writer, rs []Result) error {
	cw := csv.NewWriter(w)
	cw.Write(csvHeader)
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	opt := func(v float64, measured bool) string {
		if !measured {
			return ""
		}
		return f(v)
	}
	for _, r := range rs {
		full, niqe, multi := !r.PSNRSSIMOnly, r.NIQEImages > 0, r.Samples > 1
		cw.Write([]string{r.Dataset, r.Method, FormatScale(r.Scale), strconv.Itoa(r.Images), strconv.Itoa(r.Crop),
			r.Degradation, f(r.PSNRY), f(r.SSIMY), f(r.PSNRRGB), opt(r.LRPSNR, full), opt(r.GMSD, full), opt(r.NIQE, niqe),
			strconv.Itoa(r.NIQEImages), strconv.Itoa(r.Samples), opt(r.MeanPSNRY, multi), opt(r.MeanSSIMY, multi),
			opt(r.MeanGMSD, multi), opt(r.MeanNIQE, multi && niqe), opt(r.DiversityStd, multi), f(r.Seconds)})
	}
	cw.Flush()
	return cw.Error()
}

// WriteJSON prints results as one indented JSON array.
func WriteJSON(w io.Writer, rs []Result) error {
	if rs == nil {
		rs = []Result{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rs)
}

// FormatScale prints a scale without trailing zeros (2, 2.5, 1.75).
func FormatScale(s float64) string { return strconv.FormatFloat(s, 'f', -1, 64) }
