package push

import (
	"errors"
	"strings"
	"testing"
)

func TestParseTarget(t *testing.T) {
	good := []struct {
		url, addr, app, tcURL, key string
	}{
		{"rtmp://live.example.com/app/KEY", "live.example.com:1935", "app", "rtmp://live.example.com/app", "KEY"},
		{"rtmp://127.0.0.1:19350/live/k1", "127.0.0.1:19350", "live", "rtmp://127.0.0.1:19350/live", "k1"},
		{"rtmp://h/app/inst/key?token=a,b", "h:1935", "app/inst", "rtmp://h/app/inst", "key?token=a,b"},
		{"rtmp://[::1]:1935/live/s", "[::1]:1935", "live", "rtmp://[::1]:1935/live", "s"},
	}
	for _, c := range good {
		tg, err := parseTarget(c.url)
		if err != nil {
			t.Errorf("%s: %v", c.url, err)
			continue
		}
		if tg.addr != c.addr || tg.app != c.app || tg.tcURL != c.tcURL || tg.key != c.key || tg.raw != c.url {
			t.Errorf("%s: %+v", c.url, tg)
		}
	}
	bad := []string{
		"", "live.example.com/app/key", "rtmps://h/app/key", "http://h/app/key", "rtmp://h/app",
		"rtmp://h/app/", "rtmp:///app/key", "rtmp://h", "rtmp://h/%zz/key", "rtmp:opaque",
		"rtmp://h/app/" + strings.Repeat("k", 600),
	}
	for _, u := range bad {
		if _, err := parseTarget(u); !errors.Is(err, ErrInvalidURL) {
			t.Errorf("%q: %v, want ErrInvalidURL", u, err)
		}
	}
	// 512 characters exactly is fine.
	u := "rtmp://h/app/" + strings.Repeat("k", MaxURLLen-len("rtmp://h/app/"))
	if _, err := parseTarget(u); err != nil {
		t.Errorf("512 characters: %v", err)
	}
}

func TestValidateURLs(t *testing.T) {
	u := func(i int) string { return "rtmp://h/app/k" + string(rune('0'+i)) }
	if err := ValidateURLs(nil); err != nil {
		t.Errorf("no URL: %v", err)
	}
	six := []string{u(1), u(2), u(3), u(4), u(5), u(6)}
	if err := ValidateURLs(six); !errors.Is(err, ErrURLCount) {
		t.Errorf("6 URLs: %v", err)
	}
	if err := ValidateURLs(six[:5]); err != nil {
		t.Errorf("5 URLs: %v", err)
	}
	if err := ValidateURLs([]string{u(1), u(1)}); !errors.Is(err, ErrInvalidURL) {
		t.Errorf("duplicate: %v", err)
	}
}

func TestRedact(t *testing.T) {
	cases := map[string]string{
		"rtmp://h/app/SECRET":       "rtmp://h/app/***",
		"rtmp://h:1/a/b/SECRET?x=y": "rtmp://h:1/a/b/***",
		"rtmp://h/app":              "rtmp://h/app",
		"rtmp://h/app/SECRET#frag":  "rtmp://h/app/***",
	}
	for in, want := range cases {
		if got := redact(in); got != want || strings.Contains(got, "SECRET") {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}
