package server

import (
	"embed"
	"fmt"
	"io/fs"
	"net/http"
)

// webFiles is the browser client served at /: a page that joins a room over
// the same protocol as roomctl (PROTOCOL.md) and logs the SDK's callbacks
// under roomctl's event names. No build step, so it is embedded as written.
//
//go:embed web
var webFiles embed.FS

// webCSP is the page's Content-Security-Policy: scripts and styles from its
// own files only (no inline code, no eval), network requests (the signaling
// WebSocket, ?report=) to its own origin only, nothing else loaded, no
// framing, no <base>, no form submission. Video elements play MediaStreams
// (srcObject), which no fetch directive governs.
const webCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// webHeaders are set on every response of the browser client. The page's
// URL may hold a token (?token=), hence no Referer to anyone.
var webHeaders = map[string]string{
	"Content-Security-Policy":    webCSP,
	"X-Content-Type-Options":     "nosniff",
	"X-Frame-Options":            "DENY",
	"Referrer-Policy":            "no-referrer",
	"Cross-Origin-Opener-Policy": "same-origin",
}

// webHandler serves the browser client's files (index.html at /) with
// webHeaders.
func webHandler() (http.Handler, error) {
	sub, err := fs.Sub(webFiles, "web")
	if err != nil {
		return nil, fmt.Errorf("web files: %w", err)
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for k, v := range webHeaders {
			h.Set(k, v)
		}
		files.ServeHTTP(w, r)
	}), nil
}
