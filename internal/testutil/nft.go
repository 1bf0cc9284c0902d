package testutil

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// NeedNft skips the test (fails it in CI) unless it can change nftables:
// root and nft.
func NeedNft(t testing.TB) {
	t.Helper()
	NeedRoot(t, "network impairment (nftables)")
	Need(t, "nft")
}

// NftInput installs an nftables table (name table, which must be unique to
// the test process) whose input chain holds rules (each the words after
// "add rule inet TABLE in"), until restore is called or the test ends.
func NftInput(t testing.TB, table string, rules ...[]string) (restore func()) {
	t.Helper()
	NeedNft(t)
	nft := func(args ...string) error {
		out, err := exec.Command("nft", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("nft %s: %w: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	restored := false
	restore = func() {
		if !restored {
			restored = true
			_ = nft("delete", "table", "inet", table)
		}
	}
	t.Cleanup(restore)
	cmds := [][]string{
		{"add", "table", "inet", table},
		{"add", "chain", "inet", table, "in", "{ type filter hook input priority 0 ; }"},
	}
	for _, r := range rules {
		cmds = append(cmds, append([]string{"add", "rule", "inet", table, "in"}, r...))
	}
	for _, args := range cmds {
		if err := nft(args...); err != nil {
			t.Fatal(err)
		}
	}
	return restore
}
