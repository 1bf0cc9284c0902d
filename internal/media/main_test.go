package media

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test must leave no goroutine behind: pacing loops, RTCP drains and
// mediadevices' senders all have to stop with Close or PeerConnection.Close.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
