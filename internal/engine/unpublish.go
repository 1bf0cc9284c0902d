package engine

import (
	"context"
	"fmt"
	"slices"

	"github.com/roomctl/roomctl/internal/media"
)

// Publish publishes kinds ("audio", "video") of the source again after
// Unpublish, as the SDK's publish. ErrInvalidOperation when there is no
// source, it has no live track of a kind, or a kind is published already.
//
// The publication is made anew: the current one (if any) ends and one
// with every published kind starts on a new publish connection, so the
// others see remote_stream_remove then remote_stream_add. The source goes
// on where it was (a test pattern, a file, a device); the mute state holds.
func (e *Engine) Publish(ctx context.Context, kinds []string) error {
	return e.joinedCall(ctx, "publish", func() error { return e.setPublished(kinds, true) })
}

// Unpublish stops publishing kinds, as the SDK's unpublish: nothing of
// them is sent and the room no longer lists them (remote_stream_remove
// when nothing is left; else, as Publish, the rest is published anew).
// ErrInvalidOperation when a kind is not published. Not supported on every
// backend (the LiveKit backend refuses it). audio_track_end and
// video_track_end are not printed: the source did not end.
func (e *Engine) Unpublish(ctx context.Context, kinds []string) error {
	return e.joinedCall(ctx, "unpublish", func() error { return e.setPublished(kinds, false) })
}

// setPublished changes the published kinds and republishes; on the run
// loop.
func (e *Engine) setPublished(kinds []string, on bool) error {
	if len(kinds) == 0 {
		return fmt.Errorf("no kind given: want audio and/or video")
	}
	for _, k := range kinds {
		if err := kindArgError(k); err != nil {
			return err
		}
		switch {
		case e.cfg.Publish == nil:
			return fmt.Errorf("%w: nothing to publish (no source, or the server refused the publication)", ErrInvalidOperation)
		case !e.liveKind(k):
			return fmt.Errorf("%w: the source has no live %s track", ErrInvalidOperation, k)
		case on && !e.unpublished[k]:
			return fmt.Errorf("%w: %s is published already", ErrInvalidOperation, k)
		case !on && e.unpublished[k]:
			return fmt.Errorf("%w: %s is not published", ErrInvalidOperation, k)
		}
	}
	if e.pub != nil {
		// Asked first: a service that cannot unpublish leaves everything
		// as it was.
		if err := e.request("unpublish", func(ctx context.Context, s Session) error { return s.Unpublish(ctx) }); err != nil {
			return err
		}
		e.pub.close()
		e.pub = nil
	}
	if e.unpublished == nil {
		e.unpublished = map[string]bool{}
	}
	for _, k := range kinds {
		e.unpublished[k] = !on
	}
	if e.publishable() == 0 {
		return nil
	}
	pub, err := newPublisher(e.runCtx, e, e.cfg.Publish)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	e.pub = pub
	// The new publication starts unmuted at the server; the publisher
	// applies the state to its senders once answered (onAnswer).
	for _, k := range []string{media.KindAudio, media.KindVideo} {
		if e.isMuted(k) && !e.unpublished[k] {
			_ = e.request("mute", func(ctx context.Context, s Session) error { return s.Mute(ctx, k, true) })
		}
	}
	return nil
}

// liveKind reports whether the source has a track of kind that has not
// ended by itself.
func (e *Engine) liveKind(kind string) bool {
	return slices.ContainsFunc(e.cfg.Publish.Tracks(), func(t media.Track) bool { return t.Info.Kind == kind && !ended(t) })
}

// publishing reports whether a track of the source is to be published:
// not ended by itself, and its kind not unpublished.
func (e *Engine) publishing(t media.Track) bool {
	return !ended(t) && !e.unpublished[t.Info.Kind]
}

// publishable counts the source's tracks to publish.
func (e *Engine) publishable() int {
	n := 0
	for _, t := range e.cfg.Publish.Tracks() {
		if e.publishing(t) {
			n++
		}
	}
	return n
}
