package cmd

import (
	"testing"

	"go.uber.org/goleak"
)

// The commands' tests leave no goroutine behind: engines, device
// watchers, servers and pushers are all stopped by the run functions.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
