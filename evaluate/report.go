package evaluate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
	head := "dataset\tmethod\tscale\timages\tPSNR-Y\tSSIM-Y\tPSNR-RGB\tLR-PSNR\t"
	if multi {
		head += "samples\tmean PSNR-Y\tmean SSIM-Y\tdiversity\t"
	}
	fmt.Fprintln(tw, head+"seconds\t")
	for _, r := range rs {
		set := r.Dataset
		if r.Crop > 0 {
			set = fmt.Sprintf("%s (centre %d)", set, r.Crop)
		}
		fmt.Fprintf(tw, "%s\t%s\t×%s\t%d\t%.3f\t%.4f\t%.3f\t%.2f\t",
			set, r.Method, FormatScale(r.Scale), r.Images, r.PSNRY, r.SSIMY, r.PSNRRGB, r.LRPSNR)
		if multi {
			fmt.Fprintf(tw, "%d\t%.3f\t%.4f\t%.2f\t", max(1, r.Samples), r.MeanPSNRY, r.MeanSSIMY, r.DiversityStd)
		}
		fmt.Fprintf(tw, "%.2f\t\n", r.Seconds)
	}
	return tw.Flush()
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

// ErrNoData is returned by DataDir when the shared research data is not
// present, which is normal on machines outside the project.
var ErrNoData = errors.New("shared data not found (set ZOOMDIFF_DATA or place it at ../shared/data beside the repository)")

// DataDir locates the project's shared data folder: $ZOOMDIFF_DATA if
// set, else ../shared/data next to the repository root (the nearest folder
// at or above the working directory holding go.mod). Tests use it to skip
// cleanly where the data is absent.
func DataDir() (string, error) {
	if d := os.Getenv("ZOOMDIFF_DATA"); d != "" {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			return "", fmt.Errorf("ZOOMDIFF_DATA=%s is not a directory: %w", d, ErrNoData)
		}
		return d, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			d := filepath.Join(dir, "..", "shared", "data")
			if st, err := os.Stat(d); err == nil && st.IsDir() {
				return filepath.Clean(d), nil
			}
			return "", ErrNoData
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", ErrNoData
		}
		dir = parent
	}
}
