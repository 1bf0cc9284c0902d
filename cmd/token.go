package cmd

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/roomctl/roomctl/internal/backend/livekit"
	"github.com/roomctl/roomctl/internal/ids"
	"github.com/roomctl/roomctl/internal/token"
)

type tokenOptions struct {
	backend                     backendKind
	appID, appSecret, room, uid string
	ttl                         time.Duration
	noPublish, noSubscribe      bool
}

func newTokenCmd(s Streams) *cobra.Command {
	o := &tokenOptions{}
	c := &cobra.Command{
		Use:   "token",
		Short: "Mint a room token (HS256 JWT) and print it on stdout",
		Long: `Mint a room token signed with the app secret and print it, alone on one
line, on stdout — so that TOKEN=$(roomctl token ...) and --token-cmd work.

With --backend livekit it is a LiveKit access token: --app-id is the API key
(the token's issuer), --app-secret the API secret, --uid the identity, and
the video grant admits it to --room with canPublish and canSubscribe
(withheld by --no-publish and --no-subscribe).

` + exitCodesHelp,
		Example: `  roomctl token --app-id 1001 --app-secret "$SECRET" --room r1 --uid alice --ttl 1h
  roomctl token --backend livekit --app-id "$LIVEKIT_API_KEY" --app-secret "$LIVEKIT_API_SECRET" \
      --room r1 --uid alice --ttl 1h --no-publish`,
		Args: cobra.NoArgs,
		RunE: runE(func(c *cobra.Command) error { return runToken(o, s) }),
	}
	fs := c.Flags()
	registerBackend(fs, &o.backend)
	fs.StringVar(&o.appID, "app-id", "", "application id (--backend livekit: the API key)")
	fs.StringVar(&o.appSecret, "app-secret", "", "application secret, at least 32 bytes (--backend livekit: the API secret)")
	fs.StringVar(&o.room, "room", "", "room id ("+ids.Rule+")")
	fs.StringVar(&o.uid, "uid", "", "user id ("+ids.Rule+"; --backend livekit: the identity)")
	fs.DurationVar(&o.ttl, "ttl", time.Hour, "lifetime of the token")
	fs.BoolVar(&o.noPublish, "no-publish", false, "withhold the publish right (publishing gets publish_auth_fail)")
	fs.BoolVar(&o.noSubscribe, "no-subscribe", false, "withhold the subscribe right")
	return c
}

// runToken mints the token o describes and prints it on s.Out.
func runToken(o *tokenOptions, s Streams) error {
	if err := ids.Check("room", o.room); err != nil {
		return usagef("--room: %w", err)
	}
	if err := ids.Check("uid", o.uid); err != nil {
		return usagef("--uid: %w", err)
	}
	var tok string
	var err error
	switch o.backend {
	case backendLiveKit:
		if o.appID == "" {
			return usagef("--app-id (the API key) is required")
		}
		tok, err = livekit.MintToken(o.appID, o.appSecret, o.room, o.uid, o.ttl, !o.noPublish, !o.noSubscribe)
	default:
		tok, err = token.Mint(o.appSecret, token.Options{
			AppID: o.appID, RoomID: o.room, UID: o.uid, TTL: o.ttl,
			NoPublish: o.noPublish, NoSubscribe: o.noSubscribe,
		})
	}
	if err != nil {
		return usage(err)
	}
	_, err = fmt.Fprintln(s.Out, tok)
	return err
}
