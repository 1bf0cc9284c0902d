package control

import (
	"context"

	"github.com/roomctl/roomctl/internal/engine"
	"github.com/roomctl/roomctl/internal/ids"
)

// Engine is the session the session, publishing, subscribing and stats
// methods drive: *engine.Engine. Its errors wrap engine.ErrNotJoined
// (HAS_NOT_JOIN) or engine.ErrInvalidOperation (INVALID_OPERATION).
type Engine interface {
	Joined() bool
	UpdateToken(ctx context.Context, token string) error
	MuteLocal(ctx context.Context, kind string, muted bool) error
	Publish(ctx context.Context, kinds []string) error
	Unpublish(ctx context.Context, kinds []string) error
	Subscribe(ctx context.Context, uid string) error
	Unsubscribe(ctx context.Context, uid string) error
	SetRemoteAudioVolume(ctx context.Context, uid string, volume int) error
	SetAudioLevelReport(ctx context.Context, on bool) error
	SessionStats(ctx context.Context) (engine.SessionStats, error)
	UplinkStats(ctx context.Context, kind string) (engine.UplinkStats, error)
	DownlinkStats(ctx context.Context, kind string) ([]engine.DownlinkStats, error)
}

// The kinds of tracks, as the engine names them.
const (
	kindAudio = "audio"
	kindVideo = "video"
)

// SessionMethods are the methods of every room command: leaveRoom (which
// calls leave once its reply is out; allowed before the join too),
// updateToken, getSessionStats, enable/disableAudioLevelReport and
// get{Uplink,Downlink}{Audio,Video}Stats.
func SessionMethods(e Engine, leave func()) Methods {
	type tokenParams struct {
		Token *string `json:"token"`
	}
	levelReport := func(on bool) Method {
		return Method{NeedsJoin: true, Handle: handle(func(ctx context.Context, _ noParams) (any, error) {
			return done(e.SetAudioLevelReport(ctx, on))
		})}
	}
	uplink := func(kind string) Method {
		return Method{NeedsJoin: true, Handle: handle(func(ctx context.Context, _ noParams) (any, error) {
			return e.UplinkStats(ctx, kind)
		})}
	}
	downlink := func(kind string) Method {
		return Method{NeedsJoin: true, Handle: handle(func(ctx context.Context, _ noParams) (any, error) {
			st, err := e.DownlinkStats(ctx, kind)
			if st == nil && err == nil {
				st = []engine.DownlinkStats{} // [] in the reply, never null
			}
			return st, err
		})}
	}
	return Methods{
		"leaveRoom": {Handle: handle(func(context.Context, noParams) (any, error) {
			return afterReply{then: leave}, nil
		})},
		"updateToken": {NeedsJoin: true, Handle: handle(func(ctx context.Context, p tokenParams) (any, error) {
			token, err := required("token", p.Token)
			if err == nil && token == "" {
				err = errorf(CodeInvalidParam, "token is empty")
			}
			if err != nil {
				return nil, err
			}
			return done(e.UpdateToken(ctx, token))
		})},
		"getSessionStats": {NeedsJoin: true, Handle: handle(func(ctx context.Context, _ noParams) (any, error) {
			return e.SessionStats(ctx)
		})},
		"enableAudioLevelReport":  levelReport(true),
		"disableAudioLevelReport": levelReport(false),
		"getUplinkAudioStats":     uplink(kindAudio),
		"getUplinkVideoStats":     uplink(kindVideo),
		"getDownlinkAudioStats":   downlink(kindAudio),
		"getDownlinkVideoStats":   downlink(kindVideo),
	}
}

// PublishMethods are the methods of the commands that publish:
// muteLocalAudio and muteLocalVideo {mute}, publish and unpublish
// {kind: "audio", "video" or "both" (default)}.
func PublishMethods(e Engine) Methods {
	type muteParams struct {
		Mute *bool `json:"mute"`
	}
	type kindParams struct {
		Kind *string `json:"kind"`
	}
	mute := func(kind string) Method {
		return Method{NeedsJoin: true, Handle: handle(func(ctx context.Context, p muteParams) (any, error) {
			muted, err := required("mute", p.Mute)
			if err != nil {
				return nil, err
			}
			return done(e.MuteLocal(ctx, kind, muted))
		})}
	}
	publish := func(f func(context.Context, []string) error) Method {
		return Method{NeedsJoin: true, Handle: handle(func(ctx context.Context, p kindParams) (any, error) {
			var kinds []string
			switch kind := orDefault(p.Kind, "both"); kind {
			case "both":
				kinds = []string{kindAudio, kindVideo}
			case kindAudio, kindVideo:
				kinds = []string{kind}
			default:
				return nil, errorf(CodeInvalidParam, "kind %q: want audio, video or both", kind)
			}
			return done(f(ctx, kinds))
		})}
	}
	return Methods{
		"muteLocalAudio": mute(kindAudio),
		"muteLocalVideo": mute(kindVideo),
		"publish":        publish(e.Publish),
		"unpublish":      publish(e.Unpublish),
	}
}

// SubscribeMethods are the methods of the commands that subscribe:
// subscribe and unsubscribe {uid}, setRemoteAudioVolume {uid, volume
// 0-100}.
func SubscribeMethods(e Engine) Methods {
	type uidParams struct {
		UID *string `json:"uid"`
	}
	type volumeParams struct {
		UID    *string `json:"uid"`
		Volume *int    `json:"volume"`
	}
	subscribe := func(f func(context.Context, string) error) Method {
		return Method{NeedsJoin: true, Handle: handle(func(ctx context.Context, p uidParams) (any, error) {
			uid, err := checkUID(p.UID)
			if err != nil {
				return nil, err
			}
			return done(f(ctx, uid))
		})}
	}
	return Methods{
		"subscribe":   subscribe(e.Subscribe),
		"unsubscribe": subscribe(e.Unsubscribe),
		"setRemoteAudioVolume": {NeedsJoin: true, Handle: handle(func(ctx context.Context, p volumeParams) (any, error) {
			uid, err := checkUID(p.UID)
			if err != nil {
				return nil, err
			}
			volume, err := required("volume", p.Volume)
			if err == nil {
				err = checkRange(CodeInvalidParam, "volume", volume, 0, 100)
			}
			if err != nil {
				return nil, err
			}
			return done(e.SetRemoteAudioVolume(ctx, uid, volume))
		})},
	}
}

// checkUID returns the uid param, INVALID_PARAM when it is missing or
// breaks the rule of internal/ids.
func checkUID(p *string) (string, error) {
	uid, err := required("uid", p)
	if err != nil {
		return "", err
	}
	if err := ids.Check("uid", uid); err != nil {
		return "", errorf(CodeInvalidParam, "%v", err)
	}
	return uid, nil
}
