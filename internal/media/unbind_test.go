package media

// A mediadevices track must unbind (and its PeerConnection close) in every
// state of its source and sender: a sender that never got a connection,
// a source that ends, a source that fails, each while the Unbind is under
// way. Each of these used to block Unbind forever (issue 15, item 1).

import (
	"errors"
	"io"
	"math"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// gateReader is a PCM reader (a microphone, the mixer) whose next read can
// be held and then ended with an error of the test's choosing.
type gateReader struct {
	frames  chan struct{} // one send per frame read (dropped when full)
	mu      sync.Mutex
	n       int
	hold    bool
	held    chan struct{} // closed when a read is held
	release chan error    // the held read returns what is sent here
}

func newGateReader() *gateReader {
	return &gateReader{frames: make(chan struct{}, 1024), held: make(chan struct{}), release: make(chan error, 1)}
}

// holdNext makes the next read wait for release.
func (g *gateReader) holdNext() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.hold = true
}

func (g *gateReader) ReadPCM(f []float32) error {
	g.mu.Lock()
	hold := g.hold
	g.hold = false
	g.n++
	n := g.n
	g.mu.Unlock()
	if hold {
		close(g.held)
		return <-g.release
	}
	for i := range f {
		f[i] = float32(0.25 * math.Sin(2*math.Pi*440*float64(n*len(f)+i)/PCMSampleRate))
	}
	select {
	case g.frames <- struct{}{}:
	default:
	}
	return nil
}

// waitFrames waits until the reader has been read n times.
func (g *gateReader) waitFrames(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(waitFor)
	for range n {
		select {
		case <-g.frames:
		case <-deadline:
			t.Fatalf("fewer than %d frames read within %s", n, waitFor)
		}
	}
}

// within runs f and fails the test, with every goroutine's stack, if f has
// not returned within waitFor.
func within(t *testing.T, what string, f func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(waitFor):
		t.Fatalf("%s hangs (%s):\n%s", what, waitFor, allStacks())
	}
}

func allStacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

// parkedIn reports that a goroutine with fn on its stack is blocked (not
// running or runnable).
func parkedIn(fn string) bool {
	for _, g := range strings.Split(allStacks(), "\n\n") {
		head, _, _ := strings.Cut(g, "\n")
		if strings.Contains(g, fn) && !strings.Contains(head, "[running]") && !strings.Contains(head, "[runnable]") {
			return true
		}
	}
	return false
}

// pcmCodec is what the PCM source registers: the negotiated codec of a
// fake binding.
func pcmCodec(t *testing.T, src Source) webrtc.RTPCodecParameters {
	t.Helper()
	s, ok := src.(*mdSource)
	if !ok || len(s.codecs) != 1 {
		t.Fatalf("pcm source %T", src)
	}
	return s.codecs[0]
}

func newFakeBinding(t *testing.T, c webrtc.RTPCodecParameters) *fakeBinding {
	t.Helper()
	b := &fakeBinding{codec: c, pkts: make(chan sentPacket, 1<<14), done: make(chan struct{})}
	t.Cleanup(func() { b.once.Do(func() { close(b.done) }) })
	return b
}

// A sender whose connection never came up (the publisher closes before
// ICE connects: mix-audio leaving at once when its file cannot be
// decoded). pion's RTPSender.Stop first closes the sender, so the sending
// goroutine's next write fails with io.ErrClosedPipe, then unbinds: the
// PeerConnection's Close must return.
func TestUnbindNeverConnected(t *testing.T) {
	for i := range 3 {
		g := newGateReader()
		src, err := NewPCMSource(g, PCMConfig{})
		if err != nil {
			t.Fatal(err)
		}
		pm := &webrtc.MediaEngine{}
		if err := src.RegisterCodecs(pm); err != nil {
			t.Fatal(err)
		}
		pub, err := loopbackAPI(t, pm).NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			t.Fatal(err)
		}
		sm := &webrtc.MediaEngine{}
		if err := sm.RegisterDefaultCodecs(); err != nil {
			t.Fatal(err)
		}
		sub, err := loopbackAPI(t, sm).NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pub.AddTrack(src.Tracks()[0].Local); err != nil {
			t.Fatal(err)
		}
		// Descriptions without candidates, and none trickled: the two
		// never connect, but the offerer's senders start (pion binds them
		// on the answer).
		offer, err := pub.CreateOffer(nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := pub.SetLocalDescription(offer); err != nil {
			t.Fatal(err)
		}
		if err := sub.SetRemoteDescription(offer); err != nil {
			t.Fatal(err)
		}
		answer, err := sub.CreateAnswer(nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := sub.SetLocalDescription(answer); err != nil {
			t.Fatal(err)
		}
		if err := pub.SetRemoteDescription(answer); err != nil {
			t.Fatal(err)
		}
		g.waitFrames(t, 5) // the track encodes
		if pub.ConnectionState() == webrtc.PeerConnectionStateConnected {
			t.Fatalf("run %d: connected without candidates", i)
		}
		within(t, "close the receiver", sub.Close)
		within(t, "close the publisher (never connected)", pub.Close)
		within(t, "close the source", src.Close)
	}
}

// unbindWhileReadEnds binds the PCM track to a fake sender, holds a read
// of its source, starts Unbind, and once Unbind has returned or is
// blocked, ends the held read with endWith. Unbind must return.
func unbindWhileReadEnds(t *testing.T, endWith error) {
	g := newGateReader()
	src, err := NewPCMSource(g, PCMConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer closeWithin(t, src)
	tr := src.Tracks()[0]
	b := newFakeBinding(t, pcmCodec(t, src))
	if _, err := tr.Local.Bind(b); err != nil {
		t.Fatal(err)
	}
	g.waitFrames(t, 3)
	g.holdNext()
	select {
	case <-g.held:
	case <-time.After(waitFor):
		t.Fatalf("no read within %s", waitFor)
	}

	unbound := make(chan struct{})
	var unbindErr error
	go func() {
		defer close(unbound)
		unbindErr = tr.Local.Unbind(b)
	}()
	// Wait until Unbind has returned or sits blocked (on a channel, a
	// lock) while the source's read is still held.
	deadline := time.Now().Add(waitFor)
	for {
		select {
		case <-unbound:
		default:
			if !parkedIn(".Unbind(") {
				if time.Now().After(deadline) {
					t.Fatalf("Unbind neither returned nor blocked within %s", waitFor)
				}
				runtime.Gosched()
				continue
			}
		}
		break
	}
	g.release <- endWith

	select {
	case <-unbound:
		if unbindErr != nil {
			t.Fatalf("Unbind: %v", unbindErr)
		}
	case <-time.After(waitFor):
		t.Fatalf("Unbind hangs after the source's read returned %v (%s):\n%s", endWith, waitFor, allStacks())
	}
	select {
	case <-tr.Ended:
	case <-time.After(waitFor):
		t.Fatalf("Ended not closed within %s after the read returned %v", waitFor, endWith)
	}
}

// The source ends (a file ran out, a microphone went away: io.EOF) while
// its track is being unbound.
func TestUnbindWhileSourceEnds(t *testing.T) {
	unbindWhileReadEnds(t, io.EOF)
}

// The source fails (a device error) while its track is being unbound.
func TestUnbindWhileSourceFails(t *testing.T) {
	unbindWhileReadEnds(t, errors.New("device failed"))
}
