package ids

import (
	"strings"
	"testing"
)

var cases = []struct {
	id    string
	valid bool
}{
	{"a", true},
	{"alice", true},
	{"Room_1-b", true},
	{strings.Repeat("x", 64), true},
	{"", false},
	{strings.Repeat("x", 65), false},
	{"a b", false},
	{"a/b", false},
	{"../etc", false},
	{"é", false},
	{"a\n", false},
	{"a.b", false},
}

func TestValidAndCheck(t *testing.T) {
	for _, tc := range cases {
		if got := Valid(tc.id); got != tc.valid {
			t.Errorf("Valid(%q) = %v, want %v", tc.id, got, tc.valid)
		}
		if err := Check("uid", tc.id); (err == nil) != tc.valid {
			t.Errorf("Check(%q) = %v", tc.id, err)
		}
	}
	if err := Check("room", "a b"); err == nil || err.Error() != `invalid room "a b": want `+Rule {
		t.Errorf("Check of a bad room: %v", err)
	}
}

func TestCheckServerURL(t *testing.T) {
	for raw, ok := range map[string]bool{
		"ws://127.0.0.1:8890":          true,
		"ws://127.0.0.1:8890/":         true,
		"wss://rtc.example.com/v1/rtc": true,
		"ws://[::1]:8890":              true,
		"":                             false,
		"127.0.0.1:8890":               false,
		"http://127.0.0.1:8890":        false,
		"ws://":                        false,
		"ws:///v1/rtc":                 false,
		"ws://h:port":                  false,
	} {
		if err := CheckServerURL(raw); (err == nil) != ok {
			t.Errorf("CheckServerURL(%q) = %v, want ok %v", raw, err, ok)
		}
	}
}

func FuzzValid(f *testing.F) {
	for _, tc := range cases {
		f.Add(tc.id)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if !Valid(id) {
			return
		}
		if len(id) == 0 || len(id) > 64 || strings.Trim(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != "" {
			t.Errorf("Valid(%q) accepted it", id)
		}
	})
}
