package testutil

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// modulePath is roomctl's module, as go.mod names it.
const modulePath = "github.com/roomctl/roomctl"

// RepoRoot is the directory of roomctl's go.mod, whatever the working
// directory: tests find the repository's files (testdata, scripts, the
// main package) through it, never through a relative path.
func RepoRoot() (string, error) {
	// This file's path, as the compiler saw it, unless built with -trimpath.
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		dir := filepath.Join(filepath.Dir(file), "..", "..")
		if isModuleRoot(dir) {
			return filepath.Clean(dir), nil
		}
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if isModuleRoot(dir) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("roomctl's go.mod not found above " + dir)
		}
		dir = parent
	}
}

func isModuleRoot(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	first, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(first) == "module "+modulePath
}
