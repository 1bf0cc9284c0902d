package media

import (
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// binding returns the mdLocal of src's one track and its binding for b.
func bindingOf(t *testing.T, src Source, b *fakeBinding) (*mdLocal, *mdBinding) {
	t.Helper()
	l, ok := src.Tracks()[0].Local.(*mdLocal)
	if !ok {
		t.Fatalf("track is %T", src.Tracks()[0].Local)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l, l.bindings[b.ID()]
}

func waitDone(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitFor):
		t.Fatalf("%s not within %s:\n%s", what, waitFor, allStacks())
	}
}

// pion's contract: once Unbind returns nothing is written for that
// binding; the sending goroutine ends by itself; the sender's one RTCP
// reader stays across unbind/bind cycles (the engine's mute), and media
// flows again after each bind.
func TestMDLocalUnbindCycles(t *testing.T) {
	g := newGateReader()
	src, err := NewPCMSource(g, PCMConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer closeWithin(t, src)
	local := src.Tracks()[0].Local
	b := newFakeBinding(t, pcmCodec(t, src))
	for i := range 20 {
		if _, err := local.Bind(b); err != nil {
			t.Fatalf("bind %d: %v", i, err)
		}
		l, mb := bindingOf(t, src, b)
		if mb == nil {
			t.Fatalf("bind %d: no binding", i)
		}
		waitPackets(t, b, 2)
		within(t, "Unbind", func() error { return local.Unbind(b) })
		drain(b.pkts)
		waitDone(t, mb.done, "the sending goroutine's end")
		if p := drain(b.pkts); len(p) != 0 {
			t.Fatalf("cycle %d: %d packets written after Unbind returned", i, len(p))
		}
		if n := l.rtcpReaders(); n != 1 {
			t.Fatalf("cycle %d: %d RTCP readers for one sender", i, n)
		}
	}
	// Unbinding what is not bound is a no-op.
	within(t, "Unbind again", func() error { return local.Unbind(b) })
	other := newFakeBinding(t, pcmCodec(t, src))
	within(t, "Unbind of a sender never bound", func() error { return local.Unbind(other) })
}

func waitPackets(t *testing.T, b *fakeBinding, n int) {
	t.Helper()
	deadline := time.After(waitFor)
	for range n {
		select {
		case <-b.pkts:
		case <-deadline:
			t.Fatalf("fewer than %d packets within %s", n, waitFor)
		}
	}
}

// A source that ended (or was closed) is refused at Bind, at once; an
// Unbind of that sender returns.
func TestMDLocalBindStoppedSource(t *testing.T) {
	g := newGateReader()
	src, err := NewPCMSource(g, PCMConfig{})
	if err != nil {
		t.Fatal(err)
	}
	local, ended := src.Tracks()[0].Local, src.Tracks()[0].Ended
	b := newFakeBinding(t, pcmCodec(t, src))
	if _, err := local.Bind(b); err != nil {
		t.Fatal(err)
	}
	g.waitFrames(t, 2)
	g.holdNext()
	waitDone(t, g.held, "a held read")
	g.release <- io.EOF
	waitDone(t, ended, "Ended")
	_, mb := bindingOf(t, src, b)
	waitDone(t, mb.done, "the sending goroutine's end")
	// The sender unbinds afterwards (a PeerConnection closing later).
	within(t, "Unbind after the source ended", func() error { return local.Unbind(b) })
	if _, err := local.Bind(b); !errors.Is(err, ErrClosed) {
		t.Fatalf("bind of an ended source: %v", err)
	}
	within(t, "Unbind after a failed Bind", func() error { return local.Unbind(b) })
	closeWithin(t, src)
}

// failingWriter fails every write while fail is set, as a sender whose
// transport is down for a while.
type failingWriter struct {
	*fakeBinding
	fail   atomic.Bool
	failed chan struct{} // one send per failed write (dropped when full)
}

func (w *failingWriter) WriteStream() webrtc.TrackLocalWriter { return w }

func (w *failingWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	if w.fail.Load() {
		select {
		case w.failed <- struct{}{}:
		default:
		}
		return 0, io.ErrClosedPipe
	}
	return w.fakeBinding.WriteRTP(h, payload)
}

// Write errors drop packets; they do not end the track (mediadevices ended
// it for good at the first one).
func TestMDLocalWriteErrors(t *testing.T) {
	src, err := NewPCMSource(newGateReader(), PCMConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer closeWithin(t, src)
	w := &failingWriter{fakeBinding: newFakeBinding(t, pcmCodec(t, src)), failed: make(chan struct{}, 64)}
	w.fail.Store(true)
	local := src.Tracks()[0].Local
	if _, err := local.Bind(w); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		waitDone(t, w.failed, "a failed write")
	}
	w.fail.Store(false)
	waitPackets(t, w.fakeBinding, 3)
	within(t, "Unbind", func() error { return local.Unbind(w) })
}
