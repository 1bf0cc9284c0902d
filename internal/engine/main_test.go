package engine_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every engine test ends with no goroutine left: Run's, the
// PeerConnections' (pion's Close waits for its own), the fake's.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
