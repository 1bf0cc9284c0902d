package mixing

import "math"

// Resampler parameters. The kernel is a Kaiser-windowed sinc with
// resamplerZeros zero crossings on each side, cut off at resamplerCutoff
// of the lower Nyquist frequency (19.8 kHz for 44.1 kHz in): a stop band
// below -80 dB, so no audible aliasing or imaging. It is tabulated at
// resamplerPhases points per zero crossing and interpolated linearly.
const (
	resamplerZeros  = 24
	resamplerCutoff = 0.9
	resamplerPhases = 512
	resamplerBeta   = 8.6
)

var sincTable = func() []float64 {
	n := resamplerZeros*resamplerPhases + 2
	t := make([]float64, n)
	i0b := besselI0(resamplerBeta)
	for i := range t {
		v := float64(i) / resamplerPhases // in zero crossings
		s := 1.0
		if v != 0 {
			s = math.Sin(math.Pi*v) / (math.Pi * v)
		}
		r := v / resamplerZeros
		w := 0.0
		if r <= 1 {
			w = besselI0(resamplerBeta*math.Sqrt(1-r*r)) / i0b
		}
		t[i] = s * w
	}
	return t
}()

func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; k < 50; k++ {
		term *= (x / (2 * float64(k))) * (x / (2 * float64(k)))
		sum += term
		if term < 1e-12*sum {
			break
		}
	}
	return sum
}

// Resample converts mono samples from rate in to rate out with a
// windowed-sinc filter (band-limited interpolation). The output has
// len(x)·out/in samples (rounded); equal rates return a copy.
func Resample(x []float32, in, out int) []float32 {
	if in == out || len(x) == 0 {
		return append([]float32(nil), x...)
	}
	fc := resamplerCutoff * min(1, float64(out)/float64(in)) // of the input's Nyquist
	half := float64(resamplerZeros) / fc                     // kernel half-width in input samples
	n := int((int64(len(x))*int64(out) + int64(in)/2) / int64(in))
	y := make([]float32, n)
	step := float64(in) / float64(out)
	for i := range y {
		t := float64(i) * step
		lo := max(0, int(math.Ceil(t-half)))
		hi := min(len(x)-1, int(math.Floor(t+half)))
		var acc float64
		for j := lo; j <= hi; j++ {
			v := math.Abs(t-float64(j)) * fc * resamplerPhases
			k := int(v)
			if k >= len(sincTable)-1 {
				continue
			}
			f := v - float64(k)
			acc += float64(x[j]) * (sincTable[k] + f*(sincTable[k+1]-sincTable[k]))
		}
		y[i] = float32(acc * fc)
	}
	return y
}
