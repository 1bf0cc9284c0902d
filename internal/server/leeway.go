package server

import (
	"fmt"

	"github.com/roomctl/roomctl/internal/token"
)

// applyTokenLeeway makes cfg.Registry tolerate cfg.TokenLeeway of clock skew
// (or keeps the registry's own leeway when it is zero), capped at
// cfg.TokenGrace, and leaves the effective value in cfg.TokenLeeway.
//
// How the leeway and the token timers relate: the timers count from the
// token's own exp whatever the leeway (token_will_expire at exp-TokenWarning,
// token_request at exp, bye at exp+TokenGrace), so the leeway admits a token
// whose minter's clock is behind but never lengthens a session. A token
// accepted after its exp is asked for renewal at once and has until
// exp+TokenGrace; the cap keeps that window open (without it, a token
// expired more than TokenGrace ago would be accepted and ended at once).
// cfg.TokenGrace must be defaulted before.
func (cfg *Config) applyTokenLeeway() error {
	l := cfg.TokenLeeway
	if l < 0 || l > token.MaxLeeway {
		return fmt.Errorf("token leeway %v: must be between 0 and %v", l, token.MaxLeeway)
	}
	if l == 0 {
		l = cfg.Registry.Leeway()
	}
	if l > cfg.TokenGrace {
		cfg.Logger.Info("token leeway capped at the token grace", "leeway", l, "grace", cfg.TokenGrace)
		l = cfg.TokenGrace
	}
	cfg.TokenLeeway = l
	if l == cfg.Registry.Leeway() {
		return nil
	}
	reg, err := cfg.Registry.WithLeeway(l)
	if err != nil {
		return fmt.Errorf("token leeway: %w", err)
	}
	cfg.Registry = reg
	return nil
}
