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

// webHandler serves the browser client's files (index.html at /).
func webHandler() (http.Handler, error) {
	sub, err := fs.Sub(webFiles, "web")
	if err != nil {
		return nil, fmt.Errorf("web files: %w", err)
	}
	return http.FileServerFS(sub), nil
}
