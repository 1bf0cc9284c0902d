package token

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// The token sources below give a client the token to join with and fresh
// ones when the server asks (token_will_expire, token_request). Each has
// the method set of engine.TokenSource:
//
//	Token(ctx context.Context, renew bool) (string, error)
//	Renewable() bool

// Static is a token given once: it cannot be renewed. An empty one is
// sent as is, and the server answers NoToken.
type Static string

// Token returns t.
func (t Static) Token(context.Context, bool) (string, error) { return string(t), nil }

// Renewable is false: asking again gives the same token.
func (t Static) Renewable() bool { return false }

// DefaultCommandTimeout bounds one run of a Command: a token helper that
// hangs must not hold a join (or a renewal) forever.
const DefaultCommandTimeout = 15 * time.Second

// ErrNoToken is returned by Command when the command printed nothing.
var ErrNoToken = errors.New("printed no token")

// Command runs a shell command line for every token and takes its stdout,
// trimmed, as the token: the way to get tokens from an app server.
type Command struct {
	// Line is run with sh -c.
	Line string
	// Timeout bounds one run; the command and every process it started
	// are killed when it expires. Default DefaultCommandTimeout.
	Timeout time.Duration
}

// Renewable is true: every run may print a fresh token.
func (c *Command) Renewable() bool { return true }

// Token runs the command. A failure carries the command's stderr.
func (c *Command) Token(ctx context.Context, _ bool) (string, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultCommandTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, "sh", "-c", c.Line)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	// A process group of its own, killed as a whole: sh -c "curl ...; ..."
	// leaves curl running when only sh is killed, and curl holds stdout
	// open, so Run would wait for it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second // a grandchild that left the group
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", err, context.Cause(ctx))
		}
		if msg := strings.TrimSpace(errOut.String()); msg != "" {
			return "", fmt.Errorf("token command %q: %w: %s", c.Line, err, msg)
		}
		return "", fmt.Errorf("token command %q: %w", c.Line, err)
	}
	tok := strings.TrimSpace(out.String())
	if tok == "" {
		return "", fmt.Errorf("token command %q: %w", c.Line, ErrNoToken)
	}
	return tok, nil
}

// Minted mints a fresh token with the app secret on every call: for
// development and CI, where the client may hold the secret.
type Minted struct {
	Secret string
	// Options says whom the token is for; its Now is ignored unless set,
	// so every token is valid from the moment it is minted.
	Options Options
}

// Renewable is true: every call mints a new token.
func (m *Minted) Renewable() bool { return true }

// Token mints a token.
func (m *Minted) Token(context.Context, bool) (string, error) {
	return Mint(m.Secret, m.Options)
}
