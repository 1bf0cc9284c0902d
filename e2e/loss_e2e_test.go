package e2e

// The subscriber leg loses packets: retransmission (NACK) repairs them.

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/internal/testutil"
	"github.com/roomctl/roomctl/record"
)

// 5 % of what the server sends is dropped at random (nftables on lo,
// every UDP packet from the server's one media port: the subscriber's
// media, and RTCP to the publisher): a recorder subscribing to a VP8 test
// publisher still gets every picture. Its file decodes without an error and
// its video has no hole longer than a few frames.
func TestSubscriberLegLoss(t *testing.T) {
	testutil.NeedNft(t)
	testutil.Need(t, "ffprobe", "ffmpeg")
	port := testutil.FreeUDPPort(t)
	url := serve(t, "--udp-port", strconv.Itoa(port))
	pub := start(t, "pub", joinArgs(url, "loss", "pub", "--publish", "test")...)
	pub.Wait(event.SDKAuthResult, field("result", 0))
	testutil.NftInput(t, fmt.Sprintf("roomctl_sloss_%d", os.Getpid()),
		[]string{"iifname", "lo", "udp", "sport", strconv.Itoa(port), "numgen", "random", "mod", "100", "<", "5", "drop"})
	out := t.TempDir()
	rec := start(t, "rec", recordArgs(url, "loss", "rec", "--out", out, "--duration", "10s")...)
	closed := rec.Wait(record.EventFileClosed, field("uid", "pub"))
	if code := rec.ExitCode(); code != 0 {
		t.Fatalf("record exit %d", code)
	}
	path := testutil.DecodeAs[record.FileClosed](t, closed).Path
	testutil.DecodeClean(t, path)

	// Video packet times: no hole longer than 150 ms (30 fps; a picture
	// lost for good would leave a hole until the next keyframe, which the
	// recorder asks for at once, so about a round trip plus encoding).
	o, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "packet=pts_time",
		"-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	var times []float64
	for _, f := range strings.Fields(string(o)) {
		v, err := strconv.ParseFloat(strings.TrimSuffix(f, ","), 64)
		if err == nil {
			times = append(times, v)
		}
	}
	if len(times) < 150 {
		t.Fatalf("%d video pictures in 10 s", len(times))
	}
	var worst float64
	for i := 1; i < len(times); i++ {
		worst = max(worst, times[i]-times[i-1])
	}
	t.Logf("%d pictures over %.1f s; longest hole %.0f ms", len(times), times[len(times)-1]-times[0], worst*1000)
	if hole := time.Duration(worst * float64(time.Second)); hole > 150*time.Millisecond {
		t.Errorf("a hole of %s in the recorded video under 5 %% loss: retransmission did not repair it", hole)
	}
}
