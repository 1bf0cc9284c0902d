package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// InCI reports whether the tests run in CI (the environment variable CI is
// set): there a missing tool fails the test instead of skipping it, since
// scripts/setup.sh installs every tool and a skip would hide a feature.
func InCI() bool { return os.Getenv("CI") != "" }

// SkipOrFail skips the test with the reason, or fails it in CI.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf(format+" (required in CI; scripts/setup.sh installs it)", args...)
	}
	t.Skipf(format, args...)
}

// Need skips the test (fails it in CI) unless every tool is there: a name
// looked up on PATH, or an absolute path that must exist.
func Need(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		var err error
		if filepath.IsAbs(tool) {
			_, err = os.Stat(tool)
		} else {
			_, err = exec.LookPath(tool)
		}
		if err != nil {
			SkipOrFail(t, "%s is not installed: %v", tool, err)
		}
	}
}

// NeedRoot skips the test (fails it in CI) unless it runs as root; why
// says what needs it.
func NeedRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		SkipOrFail(t, "%s needs root", why)
	}
}

// Tail is the last n bytes of s, marked as cut when it is.
func Tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// logOutput reports whether a passing test logs its processes' output too
// (E2E_LOG set); a failing one always does.
func logOutput(t testing.TB) bool { return t.Failed() || os.Getenv("E2E_LOG") != "" }

// joinArgs is args as one shell-like string, for messages.
func joinArgs(args []string) string { return strings.Join(args, " ") }
