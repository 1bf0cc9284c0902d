package record

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/at-wat/ebml-go"
	"github.com/at-wat/ebml-go/webm"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4/pkg/media/h264reader"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
	"go.uber.org/goleak"

	"github.com/roomctl/roomctl/internal/codec/h264"
	"github.com/roomctl/roomctl/internal/engine"
	"github.com/roomctl/roomctl/internal/testutil"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testdata = "../internal/media/testdata"

// vp8Frames are the frames of the 2-s VP8 test clip (160x120, 30 fps,
// a keyframe every second).
func vp8Frames(t testing.TB) [][]byte {
	t.Helper()
	f, err := os.Open(filepath.Join(testdata, "vp8.ivf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, _, err := ivfreader.NewWith(f)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for {
		fr, _, err := r.ParseNextFrame()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fr)
	}
}

// h264AUs are the access units of the 2-s H.264 test clip, Annex-B, one
// slice a picture (SPS and PPS before each IDR).
func h264AUs(t testing.TB) [][]byte {
	t.Helper()
	f, err := os.Open(filepath.Join(testdata, "h264.h264"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := h264reader.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	var cur []byte
	for {
		nal, err := r.NextNAL()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		cur = h264.AppendAnnexB(cur, [][]byte{nal.Data})
		if typ := h264.TypeOf(nal.Data); typ == h264.NALSlice || typ == h264.NALIDR {
			out = append(out, cur)
			cur = nil
		}
	}
}

// annexBToAVCC converts an Annex-B access unit to 4-byte length prefixes.
func annexBToAVCC(au []byte) []byte { return h264.AppendAVCC(nil, h264.SplitAnnexB(au)) }

// opusPackets are the Opus packets (20 ms each) of the 2-s Ogg test clip,
// read packet by packet (not page by page) from the Ogg lacing.
func opusPackets(t testing.TB) [][]byte {
	t.Helper()
	return testutil.OpusPackets(t, filepath.Join(testdata, "opus.ogg"))
}

// timedPacket is an RTP packet of a track with the time it arrives.
type timedPacket struct {
	track int
	p     *rtp.Packet
	at    time.Duration
}

// packetize turns frames (dur apart) into RTP packets with a sequence that
// starts near the 16-bit wrap, arriving at their media time.
func packetize(track int, pay rtp.Payloader, clock uint32, mtu uint16, frames [][]byte, dur time.Duration, start time.Duration) []timedPacket {
	pk := rtp.NewPacketizer(mtu, 96, uint32(0x1000+track), pay, rtp.NewFixedSequencer(65500), clock)
	samples := uint32((int64(clock)*int64(dur) + int64(time.Second)/2) / int64(time.Second))
	var out []timedPacket
	for i, fr := range frames {
		at := start + time.Duration(i)*dur
		for _, p := range pk.Packetize(fr, samples) {
			out = append(out, timedPacket{track: track, p: p, at: at})
		}
	}
	return out
}

// repeat loops a clip n times.
func repeat(frames [][]byte, n int) [][]byte {
	var out [][]byte
	for range n {
		out = append(out, frames...)
	}
	return out
}

// impair reorders (swaps neighbours), duplicates and drops packets of
// one track with the given probabilities; it logs what it did.
func impair(t testing.TB, in []timedPacket, seed uint64, reorder, dup, drop float64) []timedPacket {
	rng := rand.New(rand.NewPCG(seed, 7))
	out := append([]timedPacket(nil), in...)
	swaps := 0
	for i := 0; i+1 < len(out); i++ {
		if rng.Float64() < reorder {
			out[i], out[i+1] = out[i+1], out[i]
			out[i].at, out[i+1].at = out[i+1].at, out[i].at
			swaps++
			i++
		}
	}
	var res []timedPacket
	dups, drops := 0, 0
	for i, p := range out {
		// Never drop the very first packets: the test wants a start.
		if i > 20 && rng.Float64() < drop {
			drops++
			continue
		}
		res = append(res, p)
		if rng.Float64() < dup {
			c := p
			c.p = p.p.Clone()
			c.at += 3 * time.Millisecond
			res = append(res, c)
			dups++
		}
	}
	t.Logf("impair seed %d: %d packets, %d swaps, %d duplicates, %d dropped", seed, len(in), swaps, dups, drops)
	return res
}

func merge(tracks ...[]timedPacket) []timedPacket {
	var all []timedPacket
	for _, tr := range tracks {
		all = append(all, tr...)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].at < all[j].at })
	return all
}

// events collects what a Recorder emits.
type events struct {
	mu    sync.Mutex
	lines []emitted
	ch    chan struct{}
}

type emitted struct {
	name string
	data any
}

func newEvents() *events { return &events{ch: make(chan struct{})} }

func (e *events) Emit(name string, data any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lines = append(e.lines, emitted{name, data})
	close(e.ch)
	e.ch = make(chan struct{})
}

func (e *events) all(name string) []any {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []any
	for _, l := range e.lines {
		if l.name == name {
			out = append(out, l.data)
		}
	}
	return out
}

// wait returns the n-th (from 1) event of that name matching pred.
func (e *events) wait(t testing.TB, name string, n int, pred func(any) bool) any {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		e.mu.Lock()
		k := 0
		for _, l := range e.lines {
			if l.name == name && (pred == nil || pred(l.data)) {
				k++
				if k == n {
					e.mu.Unlock()
					return l.data
				}
			}
		}
		ch := e.ch
		e.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("no %s #%d within 20s; got %s", name, n, e.dump())
		}
	}
}

func (e *events) dump() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var b strings.Builder
	for _, l := range e.lines {
		j, _ := json.Marshal(l.data)
		fmt.Fprintf(&b, "\n  %s %s", l.name, j)
	}
	return b.String()
}

func track(uid, kind, codec string) *engine.RemoteTrack {
	t := &engine.RemoteTrack{UID: uid, RoomID: "r1", Kind: kind, Codec: codec, ClockRate: 90000}
	if kind == "audio" {
		t.ClockRate, t.Channels = 48000, 2
	}
	return t
}

// feed hands packets to sinks with arrival times from base.
func feed(sinks []engine.PacketSink, pkts []timedPacket, base time.Time) {
	for _, p := range pkts {
		sinks[p.track].WriteRTP(p.p, base.Add(p.at))
	}
}

// parsed is a file read back with ebml-go.
type parsed struct {
	Header  webm.EBMLHeader `ebml:"EBML"`
	Segment webm.Segment    `ebml:"Segment"`
}

func parseFile(t testing.TB, path string) *parsed {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var p parsed
	if err := ebml.Unmarshal(f, &p, ebml.WithIgnoreUnknown(true)); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("ebml-go cannot read %s: %v", path, err)
	}
	return &p
}

// blockTimes returns each track's block timestamps (ms) in file order.
func (p *parsed) blockTimes() map[uint64][]int64 {
	out := map[uint64][]int64{}
	for _, c := range p.Segment.Cluster {
		for _, b := range c.SimpleBlock {
			out[b.TrackNumber] = append(out[b.TrackNumber], int64(c.Timecode)+int64(b.Timecode))
		}
	}
	return out
}

// needTool, decodeClean and mkvinfoOK are testutil's Need, DecodeClean
// and MKVInfoParses under the names this package's tests use.
func needTool(t testing.TB, name string) {
	t.Helper()
	testutil.Need(t, name)
}

// decodeClean runs ffmpeg's full decode; any output at -v error fails.
func decodeClean(t testing.TB, path string) {
	t.Helper()
	testutil.DecodeClean(t, path)
}

func mkvinfoOK(t testing.TB, path string) {
	t.Helper()
	testutil.MKVInfoParses(t, path)
}

// vp8Payloader packetizes with picture ids, as browsers do.
func vp8Payloader() rtp.Payloader { return &codecs.VP8Payloader{EnablePictureID: true} }
