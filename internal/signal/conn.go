package signal

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/coder/websocket"
)

// Conn is one signaling WebSocket. Send is safe from several goroutines; Recv
// must be called from one.
type Conn struct {
	ws *websocket.Conn
}

// Dial opens a signaling connection to url (ws://host:port; Path is added when
// the URL has none).
func Dial(ctx context.Context, url string) (*Conn, error) {
	ws, resp, err := websocket.Dial(ctx, withPath(url), nil)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close() // coder/websocket needs nothing more from it
	}
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	ws.SetReadLimit(MaxMessageSize + 1024)
	return &Conn{ws: ws}, nil
}

// Accept upgrades an HTTP request to a signaling connection.
func Accept(w http.ResponseWriter, r *http.Request) (*Conn, error) {
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return nil, fmt.Errorf("accept: %w", err)
	}
	ws.SetReadLimit(MaxMessageSize + 1024)
	return &Conn{ws: ws}, nil
}

func withPath(url string) string {
	// ws://host:port or ws://host:port/ get the default path.
	n := 0
	for i := 0; i < len(url); i++ {
		if url[i] == '/' {
			n++
			if n == 3 {
				if i == len(url)-1 {
					return url[:i] + Path
				}
				return url
			}
		}
	}
	return url + Path
}

// Send writes one message.
func (c *Conn) Send(ctx context.Context, m *Message) error {
	b, err := Encode(m)
	if err != nil {
		return err
	}
	return c.ws.Write(ctx, websocket.MessageText, b)
}

// ErrClosed is returned by Recv once the connection is closed.
var ErrClosed = errors.New("signaling connection closed")

// RecvRaw reads the next message without decoding it.
func (c *Conn) RecvRaw(ctx context.Context) ([]byte, error) {
	_, b, err := c.ws.Read(ctx)
	if err != nil {
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			return nil, fmt.Errorf("%w: %s", ErrClosed, ce.Reason)
		}
		return nil, fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return b, nil
}

// Recv reads and decodes the next message. A message that does not decode
// returns an error wrapping the decode failure but leaves the connection open.
func (c *Conn) Recv(ctx context.Context) (*Message, error) {
	b, err := c.RecvRaw(ctx)
	if err != nil {
		return nil, err
	}
	return Decode(b)
}

// Close closes the connection with a normal closure; safe to call twice.
func (c *Conn) Close(reason string) error {
	return c.ws.Close(websocket.StatusNormalClosure, reason)
}

// ClosePolicyViolation is the WebSocket close code (1008) of a connection
// the server closes for breaking its rules, e.g. no join in time.
const ClosePolicyViolation = 1008

// CloseWith closes the connection with close code code (e.g.
// ClosePolicyViolation) and reason; safe to call twice.
func (c *Conn) CloseWith(code int, reason string) error {
	return c.ws.Close(websocket.StatusCode(code), reason)
}

// Abort drops the connection without a close handshake (as a network cut would).
func (c *Conn) Abort() error {
	return c.ws.CloseNow()
}
