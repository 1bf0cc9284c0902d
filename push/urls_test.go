package push

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// checkStartsClean: an output's stream starts with the metadata, both
// sequence headers, and a keyframe as its first picture.
func checkStartsClean(t *testing.T, name string, tags []recvTag) {
	t.Helper()
	if len(tags) == 0 || tags[0].typ != tagScript {
		t.Fatalf("%s: does not start with metadata", name)
	}
	sawASC, sawAVC := false, false
	for i, tg := range tags {
		switch {
		case tg.typ == tagAudio && tg.body[1] == aacSequenceHeader:
			sawASC = true
		case tg.typ == tagVideo && tg.body[1] == avcSequenceHeader:
			sawAVC = true
		case tg.typ == tagVideo:
			if !sawAVC || !sawASC || tg.body[0]>>4 != 1 {
				t.Fatalf("%s: tag %d, the first picture, comes before a header or is not a keyframe", name, i)
			}
			return
		}
	}
	t.Fatalf("%s: no picture", name)
}

// A push started with no URL waits; a URL added while the source flows
// starts clean (headers, keyframe); removing one of two ends it with
// URL_IS_REMOVED and leaves the other streaming without a status change.
func TestAddRemoveURLs(t *testing.T) {
	checkLeaks(t)
	a, b := startRTMPServer(t, ""), startRTMPServer(t, "")
	ua, ub := a.url("a"), b.url("b")
	log := newStatusLog()
	p := newTestPusher(t, log)
	src := startSource(t, p, 0)
	defer src.halt()
	if err := p.AddURL(ua); err != nil {
		t.Fatal(err)
	}
	log.waitFor(t, 0, ua, StatusOngoing, ReasonNone)
	a.waitTags(100)
	if err := p.AddURL(ub); err != nil {
		t.Fatal(err)
	}
	log.waitFor(t, 0, ub, StatusOngoing, ReasonNone)
	checkStartsClean(t, "added mid-stream", b.waitTags(60))
	if got := p.URLs(); strings.Join(got, " ") != ua+" "+ub {
		t.Fatalf("URLs %v", got)
	}

	if err := p.RemoveURL(ua); err != nil {
		t.Fatal(err)
	}
	log.waitFor(t, 0, ua, StatusFinished, ReasonURLRemoved)
	// The other goes on: more tags, no new status.
	n := len(b.received())
	b.waitTags(n + 60)
	if got := log.of(ub); strings.Join(got, " ") != "PUSH_STREAM_ONGOING/" {
		t.Fatalf("statuses of the URL kept: %v", got)
	}
	if got := log.of(ua); strings.Join(got, " ") != "PUSH_STREAM_ONGOING/ PUSH_STREAM_FINISHED/URL_IS_REMOVED" {
		t.Fatalf("statuses of the URL removed: %v", got)
	}
	if got := p.URLs(); len(got) != 1 || got[0] != ub {
		t.Fatalf("URLs after remove %v", got)
	}

	// Removed, it can come back.
	from := len(log.all())
	if err := p.AddURL(ua); err != nil {
		t.Fatal(err)
	}
	log.waitFor(t, from, ua, StatusOngoing, ReasonNone)

	_ = p.Close()
	log.waitFor(t, 0, ub, StatusFinished, ReasonStopped)
	log.waitFor(t, from, ua, StatusFinished, ReasonStopped)
	// The removal's status came once, before the re-add.
	if got := log.of(ua); strings.Count(strings.Join(got, " "), "URL_IS_REMOVED") != 1 {
		t.Fatalf("statuses %v", got)
	}
}

func TestAddRemoveURLErrors(t *testing.T) {
	checkLeaks(t)
	log := newStatusLog()
	p := newTestPusher(t, log)
	url := func(i int) string { return fmt.Sprintf("rtmp://127.0.0.1:1/live/k%d", i) }
	for i := range MaxURLs {
		if err := p.AddURL(url(i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		err  error
		want error
	}{
		{p.AddURL(url(0)), ErrURLExists},
		{p.AddURL(url(MaxURLs)), ErrTooManyURLs},
		{p.AddURL("http://h/a/k"), ErrInvalidURL},
		{p.RemoveURL(url(MaxURLs)), ErrURLNotExist},
	} {
		if !errors.Is(c.err, c.want) {
			t.Errorf("got %v, want %v", c.err, c.want)
		}
		if c.err != nil && strings.Contains(c.err.Error(), "/k") {
			t.Errorf("error %q shows a stream key", c.err)
		}
	}
	if err := p.RemoveURL(url(1)); err != nil {
		t.Fatal(err)
	}
	if err := p.AddURL(url(MaxURLs)); err != nil {
		t.Fatalf("add after a remove made room: %v", err)
	}
	// Never sourced: removed before any connection, it still finishes.
	log.waitFor(t, 0, url(1), StatusFinished, ReasonURLRemoved)
	_ = p.Close()
	if err := p.AddURL(url(7)); !errors.Is(err, ErrClosed) {
		t.Fatalf("AddURL after Close: %v", err)
	}
	if err := p.RemoveURL(url(0)); !errors.Is(err, ErrClosed) {
		t.Fatalf("RemoveURL after Close: %v", err)
	}
	select {
	case <-p.Done():
	case <-time.After(wait):
		t.Fatal("not done after Close")
	}
}
