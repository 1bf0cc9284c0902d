package engine_test

import (
	"errors"
	"testing"

	"github.com/roomctl/roomctl/internal/engine"
	"github.com/roomctl/roomctl/internal/engine/enginetest"
	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/internal/token"
)

func kindsOf(ts []engine.Track) []string {
	var ks []string
	for _, t := range ts {
		ks = append(ks, t.Kind)
	}
	return ks
}

// Unpublish ends the publication and publishes what is left anew;
// Publish brings a kind back. The mute state holds across, nothing is
// reported as a track end, and repeated or impossible requests are
// ErrInvalidOperation.
func TestUnpublishPublish(t *testing.T) {
	fake := enginetest.New(t)
	r := start(t, fake, func(cfg *engine.Config) { cfg.Publish = newSource(t) })
	r.rec.WaitFor(t, 0, event.SDKAuthResult, isAuth(token.OK))
	if got := kindsOf(fake.WaitCall(t, "PublishOffer", 1).Tracks); len(got) != 2 {
		t.Fatalf("first publication declares %v", got)
	}
	ctx := callCtx(t)
	if err := r.eng.MuteLocal(ctx, "audio", true); err != nil {
		t.Fatal(err)
	}

	if err := r.eng.Unpublish(ctx, []string{"video"}); err != nil {
		t.Fatal(err)
	}
	fake.WaitCall(t, "Unpublish", 1)
	if got := kindsOf(fake.WaitCall(t, "PublishOffer", 2).Tracks); len(got) != 1 || got[0] != "audio" {
		t.Fatalf("after unpublish video the publication declares %v, want [audio]", got)
	}
	// The new publication is told the audio is muted.
	if c := fake.WaitCall(t, "Mute", 2); c.Kind != "audio" || !c.Muted {
		t.Fatalf("mute after republishing: %+v", c)
	}
	if err := r.eng.Unpublish(ctx, []string{"video"}); !errors.Is(err, engine.ErrInvalidOperation) {
		t.Fatalf("unpublish video twice: %v, want ErrInvalidOperation", err)
	}

	// Nothing left: the publication ends, no new offer.
	if err := r.eng.Unpublish(ctx, []string{"audio"}); err != nil {
		t.Fatal(err)
	}
	fake.WaitCall(t, "Unpublish", 2)
	if n := fake.CountCalls("PublishOffer"); n != 2 {
		t.Fatalf("%d publish offers with nothing published, want 2", n)
	}
	if st, err := r.eng.UplinkStats(ctx, "audio"); err != nil || st.Published {
		t.Fatalf("uplink audio after unpublishing everything: %+v %v", st, err)
	}

	if err := r.eng.Publish(ctx, []string{"audio", "video"}); err != nil {
		t.Fatal(err)
	}
	if got := kindsOf(fake.WaitCall(t, "PublishOffer", 3).Tracks); len(got) != 2 {
		t.Fatalf("republished both: declares %v", got)
	}
	if n := fake.CountCalls("Unpublish"); n != 2 {
		t.Fatalf("%d unpublish requests, want 2 (none when nothing was published)", n)
	}
	if err := r.eng.Publish(ctx, []string{"audio"}); !errors.Is(err, engine.ErrInvalidOperation) {
		t.Fatalf("publish audio twice: %v, want ErrInvalidOperation", err)
	}
	if err := r.eng.Publish(ctx, []string{"screen"}); err == nil || errors.Is(err, engine.ErrInvalidOperation) {
		t.Fatalf("publish screen: %v, want a bad-kind error", err)
	}
	for _, name := range []string{event.AudioTrackEnd, event.VideoTrackEnd} {
		if n := r.rec.Count(0, name); n != 0 {
			t.Fatalf("%d %s for an unpublish", n, name)
		}
	}

	// Publishing nothing: nothing to unpublish.
	fake2 := enginetest.New(t)
	r2 := start(t, fake2, nil)
	r2.rec.WaitFor(t, 0, event.SDKAuthResult, isAuth(token.OK))
	if err := r2.eng.Unpublish(ctx, []string{"audio"}); !errors.Is(err, engine.ErrInvalidOperation) {
		t.Fatalf("unpublish without a source: %v, want ErrInvalidOperation", err)
	}
}
