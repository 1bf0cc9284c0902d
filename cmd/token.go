package cmd

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/roomctl/roomctl/internal/signal"
	"github.com/roomctl/roomctl/internal/token"
)

type tokenOptions struct {
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

` + exitCodesHelp,
		Example: `  roomctl token --app-id 1001 --app-secret "$SECRET" --room r1 --uid alice --ttl 1h`,
		Args:    cobra.NoArgs,
		RunE: runE(func(c *cobra.Command) error {
			if !signal.IDPattern.MatchString(o.room) {
				return usagef("invalid or missing --room %q", o.room)
			}
			if !signal.IDPattern.MatchString(o.uid) {
				return usagef("invalid or missing --uid %q", o.uid)
			}
			tok, err := token.Mint(o.appSecret, token.Options{
				AppID: o.appID, RoomID: o.room, UID: o.uid, TTL: o.ttl,
				NoPublish: o.noPublish, NoSubscribe: o.noSubscribe,
			})
			if err != nil {
				return usagef("%v", err)
			}
			_, err = fmt.Fprintln(s.Out, tok)
			return err
		}),
	}
	fs := c.Flags()
	fs.StringVar(&o.appID, "app-id", "", "application id")
	fs.StringVar(&o.appSecret, "app-secret", "", "application secret (at least 32 bytes)")
	fs.StringVar(&o.room, "room", "", "room id")
	fs.StringVar(&o.uid, "uid", "", "user id")
	fs.DurationVar(&o.ttl, "ttl", time.Hour, "lifetime of the token")
	fs.BoolVar(&o.noPublish, "no-publish", false, "withhold the publish right (publishing gets publish_auth_fail)")
	fs.BoolVar(&o.noSubscribe, "no-subscribe", false, "withhold the subscribe right")
	return c
}
