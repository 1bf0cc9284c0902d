package pionlog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestLevels(t *testing.T) {
	var buf bytes.Buffer
	l := Factory(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))).NewLogger("ice")
	l.Warnf("routine %d", 1) // debug: hidden at info
	l.Errorf("broken %s", "pipe")
	out := buf.String()
	if strings.Contains(out, "routine") || !strings.Contains(out, "level=WARN") || !strings.Contains(out, "broken pipe") || !strings.Contains(out, "pion=ice") {
		t.Fatalf("got %q", out)
	}
}
