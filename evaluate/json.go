package evaluate

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// jsonFloat is a score as the JSON of Result carries it: a number, or the
// string "+Inf", "-Inf" or "NaN", since JSON has no number for those and
// scores can be them (the PSNR of an output equal to its reference, a flat
// image's, is +Inf). Without it one such image makes the whole JSON
// unwritable.
type jsonFloat float64

// MarshalJSON writes a finite value as a number and the others as strings.
func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return []byte(`"` + strconv.FormatFloat(v, 'g', -1, 64) + `"`), nil
	}
	return json.Marshal(v)
}

// UnmarshalJSON reads a number or a string that strconv.ParseFloat reads.
func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || b[0] != '"' {
		return json.Unmarshal(b, (*float64)(f))
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("score %q is not a number", s)
	}
	*f = jsonFloat(v)
	return nil
}

// scoresJSON is Scores as JSON carries it, field for field and tag for
// tag. The conversions list the fields in order, so that a field added to
// one type and not the other fails to compile.
type scoresJSON struct {
	PSNRY   jsonFloat `json:"psnr_y"`
	SSIMY   jsonFloat `json:"ssim_y"`
	PSNRRGB jsonFloat `json:"psnr_rgb"`
	// LRPSNR and GMSD are nil, written as null, where they were not
	// measured (Result.PSNRSSIMOnly).
	LRPSNR       *jsonFloat `json:"lr_psnr"`
	GMSD         *jsonFloat `json:"gmsd"`
	NIQE         jsonFloat  `json:"niqe,omitempty"`
	MeanPSNRY    jsonFloat  `json:"mean_psnr_y,omitempty"`
	MeanSSIMY    jsonFloat  `json:"mean_ssim_y,omitempty"`
	MeanGMSD     jsonFloat  `json:"mean_gmsd,omitempty"`
	MeanNIQE     jsonFloat  `json:"mean_niqe,omitempty"`
	DiversityStd jsonFloat  `json:"diversity_std,omitempty"`
}

func (s Scores) toJSON() scoresJSON {
	lr, gmsd := jsonFloat(s.LRPSNR), jsonFloat(s.GMSD)
	return scoresJSON{jsonFloat(s.PSNRY), jsonFloat(s.SSIMY), jsonFloat(s.PSNRRGB), &lr, &gmsd,
		jsonFloat(s.NIQE), jsonFloat(s.MeanPSNRY), jsonFloat(s.MeanSSIMY), jsonFloat(s.MeanGMSD), jsonFloat(s.MeanNIQE),
		jsonFloat(s.DiversityStd)}
}

func (s scoresJSON) scores() Scores {
	return Scores{float64(s.PSNRY), float64(s.SSIMY), float64(s.PSNRRGB), s.LRPSNR.value(), s.GMSD.value(),
		float64(s.NIQE), float64(s.MeanPSNRY), float64(s.MeanSSIMY), float64(s.MeanGMSD), float64(s.MeanNIQE),
		float64(s.DiversityStd)}
}

// value is the score f points to, 0 for one not measured (nil), as
// Scores holds it.
func (f *jsonFloat) value() float64 {
	if f == nil {
		return 0
	}
	return float64(*f)
}

// imageScoreJSON is ImageScore as JSON carries it.
type imageScoreJSON struct {
	Name string `json:"name"`
	scoresJSON
}

// MarshalJSON writes s with non-finite scores as strings (jsonFloat).
func (s ImageScore) MarshalJSON() ([]byte, error) {
	return json.Marshal(imageScoreJSON{s.Name, s.Scores.toJSON()})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *ImageScore) UnmarshalJSON(b []byte) error {
	var v imageScoreJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = ImageScore{v.Name, v.scores()}
	return nil
}

// resultJSON is Result as JSON carries it, field for field and tag for
// tag, so that the scores keep their place in the object.
type resultJSON struct {
	Dataset string  `json:"dataset"`
	Method  string  `json:"method"`
	Scale   float64 `json:"scale"`
	Images  int     `json:"images"`
	scoresJSON
	NIQEImages  int          `json:"niqe_images,omitempty"`
	Samples     int          `json:"samples"`
	Shave       int          `json:"shave"`
	Crop        int          `json:"crop,omitempty"`
	Degradation string       `json:"degradation,omitempty"`
	Seconds     float64      `json:"seconds"`
	PerImage    []ImageScore `json:"per_image,omitempty"`
}

// MarshalJSON writes r with non-finite scores as strings (jsonFloat) and
// the scores it did not measure as null.
func (r Result) MarshalJSON() ([]byte, error) {
	sc := r.Scores.toJSON()
	if r.PSNRSSIMOnly {
		sc.LRPSNR, sc.GMSD = nil, nil
	}
	return json.Marshal(resultJSON{r.Dataset, r.Method, r.Scale, r.Images, sc, r.NIQEImages, r.Samples,
		r.Shave, r.Crop, r.Degradation, r.Seconds, r.PerImage})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *Result) UnmarshalJSON(b []byte) error {
	var v resultJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*r = Result{v.Dataset, v.Method, v.Scale, v.Images, v.scores(), v.NIQEImages, v.LRPSNR == nil && v.GMSD == nil,
		v.Samples, v.Shave, v.Crop, v.Degradation, v.Seconds, v.PerImage}
	return nil
}
