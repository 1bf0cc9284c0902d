// Package ids holds the rules for what a session is addressed by: the room
// server's URL, the room id and the user id (uid). Every place that takes
// one checks it here, so that what one part of roomctl accepts no other
// part refuses.
package ids

import (
	"fmt"
	"net/url"
	"regexp"
)

// Pattern is the rule for room ids and uids as a regular expression: 1 to
// 64 characters of A-Z a-z 0-9 _ -, as the SDK accepts them. They are
// safe in a file name and a URL.
const Pattern = `^[A-Za-z0-9_-]{1,64}$`

// Rule is Pattern in words, for error messages and help text.
const Rule = "1-64 characters of A-Z a-z 0-9 _ -"

var re = regexp.MustCompile(Pattern)

// Valid reports whether id is a valid room id or uid.
func Valid(id string) bool { return re.MatchString(id) }

// Check returns an error that names what ("room", "uid") and the rule when
// id is not valid.
func Check(what, id string) error {
	if Valid(id) {
		return nil
	}
	return fmt.Errorf("invalid %s %q: want %s", what, id, Rule)
}

// CheckServerURL reports whether raw is a room server URL: ws:// or wss://
// with a host, as ws://127.0.0.1:8890 (the signaling path /v1/rtc is added
// when the URL has none).
func CheckServerURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Errorf("server url %q: %w", raw, err)
	case u.Scheme != "ws" && u.Scheme != "wss":
		return fmt.Errorf("server url %q: want a ws:// or wss:// URL", raw)
	case u.Host == "":
		return fmt.Errorf("server url %q: no host", raw)
	}
	return nil
}
