package media

import (
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/h264reader"

	"github.com/roomctl/roomctl/internal/codec/h264"
)

// defaultH264FPS paces H.264 files whose SPS has no timing info: a raw
// Annex-B stream carries no timestamps at all.
const defaultH264FPS = 30

// accessUnit is one picture's NAL units in decode order.
type accessUnit struct {
	nals [][]byte
	vcl  bool
	size int
}

const maxAccessUnit = 32 << 20

// annexB joins the NAL units with start codes: TrackLocalStaticSample's
// H.264 payloader splits a sample on start codes, and it sends SPS and PPS
// in one STAP-A with the NAL that follows.
func (au *accessUnit) annexB() []byte { return h264.AppendAnnexB(nil, au.nals) }

// auReader groups h264reader's NAL units into access units: a NAL unit
// that h264.StartsAccessUnit after a slice begins the next one.
type auReader struct {
	r    *h264reader.H264Reader
	next *h264reader.NAL
	err  error
}

func newAUReader(r io.Reader) (*auReader, error) {
	hr, err := h264reader.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("h264: %w", err)
	}
	return &auReader{r: hr}, nil
}

func (r *auReader) readAU() (accessUnit, error) {
	var au accessUnit
	for {
		nal := r.next
		r.next = nil
		if nal == nil {
			if r.err != nil {
				break
			}
			var err error
			nal, err = r.r.NextNAL()
			if err != nil {
				r.err = err
				break
			}
		}
		if len(nal.Data) == 0 {
			continue
		}
		isVCL := h264.TypeOf(nal.Data).IsVCL()
		if au.vcl && h264.StartsAccessUnit(nal.Data) {
			r.next = nal
			return au, nil
		}
		au.nals = append(au.nals, nal.Data)
		au.vcl = au.vcl || isVCL
		au.size += len(nal.Data)
		// Without a slice nothing ends an access unit: bound what a file of
		// parameter sets or garbage can make us hold.
		if au.size > maxAccessUnit || len(au.nals) > 4096 {
			r.err = fmt.Errorf("h264: access unit over %d bytes or 4096 NAL units", maxAccessUnit)
			return accessUnit{}, r.err
		}
	}
	if len(au.nals) == 0 {
		return au, r.err
	}
	return au, nil
}

// h264Samples yields access units that contain a picture, each lasting one
// frame at the file's frame rate.
type h264Samples struct {
	r   *auReader
	dur time.Duration
}

func (s *h264Samples) next() (sample, error) {
	for {
		au, err := s.r.readAU()
		if err != nil {
			return sample{}, err
		}
		// Parameter sets alone (a trailing SPS) are no picture; the payloader
		// would hold them for a NAL that never comes.
		if au.vcl {
			return sample{data: au.annexB(), dur: s.dur}, nil
		}
	}
}

// probeAUs bounds how much of a file the probe reads: about two seconds of
// video, enough to meet the SPS and any B-frames of the first GOP.
const probeAUs = 64

func probeH264(rd io.Reader) (*fileTrack, error) {
	r, err := newAUReader(rd)
	if err != nil {
		return nil, err
	}
	var sps *h264.SPS
	var spsErr error
	for i := 0; i < probeAUs; i++ {
		au, err := r.readAU()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("h264: %w", err)
		}
		for _, nal := range au.nals {
			switch h264.TypeOf(nal) {
			case h264.NALSPS:
				if sps == nil {
					s, err := fileSourceSPS(nal)
					if err != nil {
						spsErr = err
						continue
					}
					sps = &s
				}
			case h264.NALSlice:
				// B-frames arrive in decode order and WebRTC has no
				// reordering: receivers show them out of order or not at all.
				if h264.IsBSlice(nal) {
					return nil, fmt.Errorf("%w: H.264 with B-frames (re-encode without them, e.g. x264 -bf 0 or baseline profile)", ErrUnsupportedCodec)
				}
			}
		}
	}
	if sps == nil {
		if spsErr != nil {
			return nil, spsErr
		}
		return nil, fmt.Errorf("%w: no H.264 SPS in the first %d pictures", ErrUnknownFormat, probeAUs)
	}
	fps := sps.FrameRate
	if fps == 0 {
		fps = defaultH264FPS
	}
	dur := time.Duration(float64(time.Second) / fps)
	plid := sps.ProfileLevelID()
	return &fileTrack{
		info: TrackInfo{
			Kind: KindVideo, Codec: CodecH264,
			Width: sps.Width, Height: sps.Height, FrameRate: int(math.Round(fps)),
		},
		typ:   webrtc.RTPCodecTypeVideo,
		codec: h264Codec(plid),
		newReader: func(rd io.Reader) (sampleReader, error) {
			r, err := newAUReader(rd)
			if err != nil {
				return nil, err
			}
			return &h264Samples{r: r, dur: dur}, nil
		},
	}, nil
}

// fileSourceSPS is h264.ParseSPS with the limits of a file source: 4:2:0 to
// 4:4:4, at most 1024 macroblocks (16384 pixels) a side.
func fileSourceSPS(nal []byte) (h264.SPS, error) {
	s, err := h264.ParseSPS(nal)
	if err != nil {
		return s, err
	}
	if s.ChromaFormatIDC > 3 {
		return s, fmt.Errorf("h264: chroma_format_idc %d", s.ChromaFormatIDC)
	}
	if s.PicWidthInMbs > 1024 || s.PicHeightInMapUnits > 1024 {
		return s, errors.New("h264: implausible picture size")
	}
	return s, nil
}

// h264Codec registers the file's profile under the payload type pion's
// default table gives that profile, so a peer built from the defaults
// numbers it the same way.
func h264Codec(profileLevelID string) webrtc.RTPCodecParameters {
	pt := webrtc.PayloadType(102)
	switch profileLevelID[:4] {
	case "42e0":
		pt = 106
	case "4d00":
		pt = 127
	case "6400":
		pt = 112
	}
	return webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType:     webrtc.MimeTypeH264,
			ClockRate:    90000,
			SDPFmtpLine:  "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + profileLevelID,
			RTCPFeedback: videoRTCPFeedback,
		},
		PayloadType: pt,
	}
}
