package push

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// target is a parsed RTMP URL: rtmp://host[:port]/app[/inst...]/key[?query].
type target struct {
	raw   string // as given: what push_stream_status reports
	addr  string // host:port, port 1935 by default
	app   string // every path segment but the last
	tcURL string // rtmp://host[:port]/app, sent in connect
	key   string // the last segment with the query: the stream name
}

// parseTarget validates one URL.
func parseTarget(raw string) (target, error) {
	if raw == "" || len(raw) > MaxURLLen {
		return target{}, fmt.Errorf("%w: length %d, want 1 to %d characters", ErrInvalidURL, len(raw), MaxURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return target{}, fmt.Errorf("%w: %q: %w", ErrInvalidURL, redact(raw), err)
	}
	if u.Scheme != "rtmp" {
		return target{}, fmt.Errorf("%w: %q: scheme %q, want rtmp (rtmps and others are not supported)", ErrInvalidURL, redact(raw), u.Scheme)
	}
	if u.Hostname() == "" || u.Opaque != "" {
		return target{}, fmt.Errorf("%w: %q: no host", ErrInvalidURL, redact(raw))
	}
	port := u.Port()
	if port == "" {
		port = "1935"
	}
	path := strings.Trim(u.Path, "/")
	i := strings.LastIndexByte(path, '/')
	if i <= 0 || i == len(path)-1 {
		return target{}, fmt.Errorf("%w: %q: want rtmp://host/app/stream-key", ErrInvalidURL, redact(raw))
	}
	t := target{
		raw:  raw,
		addr: net.JoinHostPort(u.Hostname(), port),
		app:  path[:i],
		key:  path[i+1:],
	}
	if u.RawQuery != "" {
		t.key += "?" + u.RawQuery
	}
	t.tcURL = "rtmp://" + u.Host + "/" + t.app
	return t, nil
}

// redact hides the stream key (the last path segment and the query) of an
// RTMP URL for logs: it is a secret. Events carry the URL unchanged, as the
// SDK does.
func redact(raw string) string {
	s := raw
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i]
	}
	scheme := ""
	if i := strings.Index(s, "://"); i >= 0 {
		scheme, s = s[:i+3], s[i+3:]
	}
	if i := strings.LastIndexByte(s, '/'); i >= 0 && i < len(s)-1 && strings.Contains(s[:i], "/") {
		return scheme + s[:i+1] + "***"
	}
	return scheme + s
}
