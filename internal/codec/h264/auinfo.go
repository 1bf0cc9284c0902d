package h264

// AUInfo is what a muxer learns from the NAL units of one access unit.
// The zero AUInfo is ready for Add.
type AUInfo struct {
	// IDR is set when the access unit holds a slice of an IDR picture: a
	// keyframe.
	IDR bool
	// SPS and PPS are the last of each in the access unit, nil if none;
	// they share the NAL unit's memory.
	SPS, PPS []byte
}

// Add notes one NAL unit of the access unit.
func (a *AUInfo) Add(nal []byte) {
	switch TypeOf(nal) {
	case NALIDR:
		a.IDR = true
	case NALSPS:
		a.SPS = nal
	case NALPPS:
		a.PPS = nal
	}
}
