package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// The browser client is served with a strict Content-Security-Policy and the
// usual hardening headers on every response (item 10).
func TestWebHeaders(t *testing.T) {
	h, err := webHandler()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path, ctype string
		status      int
	}{
		{"/", "text/html", http.StatusOK},
		{"/app.js", "text/javascript", http.StatusOK},
		{"/style.css", "text/css", http.StatusOK},
		{"/nonexistent", "text/plain", http.StatusNotFound},
	} {
		t.Run(c.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, c.path+"?report=http://evil.example/", nil))
			res := rec.Result()
			if res.StatusCode != c.status {
				t.Errorf("status %d, want %d", res.StatusCode, c.status)
			}
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, c.ctype) {
				t.Errorf("Content-Type %q, want %s (nosniff needs the right one)", ct, c.ctype)
			}
			for k, want := range map[string]string{
				"X-Content-Type-Options": "nosniff",
				"X-Frame-Options":        "DENY",
				"Referrer-Policy":        "no-referrer",
			} {
				if got := res.Header.Get(k); got != want {
					t.Errorf("%s: %q, want %q", k, got, want)
				}
			}
			csp := cspDirectives(res.Header.Get("Content-Security-Policy"))
			for dir, want := range map[string]string{
				"default-src":     "'none'",
				"script-src":      "'self'",
				"style-src":       "'self'",
				"connect-src":     "'self'",
				"frame-ancestors": "'none'",
				"base-uri":        "'none'",
				"form-action":     "'none'",
			} {
				if got, ok := csp[dir]; !ok || got != want {
					t.Errorf("CSP %s: %q, want %q (policy %q)", dir, got, want, res.Header.Get("Content-Security-Policy"))
				}
			}
		})
	}
}

// cspDirectives parses a policy into directive -> source list.
func cspDirectives(policy string) map[string]string {
	m := map[string]string{}
	for _, d := range strings.Split(policy, ";") {
		f := strings.Fields(d)
		if len(f) > 0 {
			m[f[0]] = strings.Join(f[1:], " ")
		}
	}
	return m
}

// The page works under its policy: no inline script or style, no inline
// event handlers or style attributes, no eval-like calls in app.js, and
// every file the page links is embedded (served from its own origin).
func TestWebPageFitsCSP(t *testing.T) {
	page := readWeb(t, "index.html")
	for _, m := range regexp.MustCompile(`(?is)<script([^>]*)>(.*?)</script>`).FindAllStringSubmatch(page, -1) {
		if !strings.Contains(m[1], "src=") || strings.TrimSpace(m[2]) != "" {
			t.Errorf("index.html: inline script %q needs 'unsafe-inline'", m[0])
		}
	}
	for _, re := range []string{
		`(?is)<style`,
		`(?is)\sstyle\s*=`,
		`(?is)\son[a-z]+\s*=`,
		`(?is)javascript:`,
	} {
		if loc := regexp.MustCompile(re).FindStringIndex(page); loc != nil {
			t.Errorf("index.html: %q needs 'unsafe-inline': %q", re, page[loc[0]:min(loc[1]+40, len(page))])
		}
	}
	for _, m := range regexp.MustCompile(`(?i)(?:src|href)="([^"]*)"`).FindAllStringSubmatch(page, -1) {
		ref := m[1]
		if strings.Contains(ref, ":") || strings.HasPrefix(ref, "//") {
			t.Errorf("index.html links %q: only files of the page's origin are allowed", ref)
			continue
		}
		readWeb(t, ref)
	}
	js := readWeb(t, "app.js")
	for _, re := range []string{`\beval\s*\(`, `new\s+Function\b`, `setTimeout\s*\(\s*["'` + "`]", `\.innerHTML\b`, `\.style\.`, `setAttribute\(\s*["']style`} {
		if regexp.MustCompile(re).MatchString(js) {
			t.Errorf("app.js matches %q, which the policy blocks", re)
		}
	}
	// The report rule lives in the page: a cross-origin ?report= is refused.
	if !strings.Contains(js, "location.origin") {
		t.Error("app.js does not compare ?report= with the page's origin")
	}
}

func readWeb(t *testing.T, name string) string {
	t.Helper()
	f, err := webFiles.Open("web/" + name)
	if err != nil {
		t.Fatalf("page file %s: %v", name, err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
