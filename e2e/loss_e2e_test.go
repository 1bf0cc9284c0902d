package e2e

// The subscriber leg loses packets: retransmission (NACK) repairs them.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
// media, and RTCP to the publisher): a recorder subscribing to a VP8
// publisher still gets every picture. The publisher sends a file (30 fps, a
// keyframe every second, about four packets a picture), so that a missing
// picture can only be a loss that was not repaired: without retransmission
// a fifth of the pictures break and each waits up to a second for the next
// keyframe. The file decodes without an error, has at least 90 % of the
// pictures sent, and no hole longer than 400 ms (a slow race build may
// deliver a retransmission too late for the recorder now and then).
func TestSubscriberLegLoss(t *testing.T) {
	testutil.NeedNft(t)
	testutil.Need(t, "ffprobe", "ffmpeg")
	clip := filepath.Join(t.TempDir(), "v.ivf")
	if out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=640x480:rate=30", "-t", "10",
		"-c:v", "libvpx", "-b:v", "1M", "-deadline", "realtime", "-cpu-used", "8", "-g", "30", "-auto-alt-ref", "0", clip).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	port := testutil.FreeUDPPort(t)
	url := serve(t, "--udp-port", strconv.Itoa(port))
	pub := start(t, "pub", joinArgs(url, "loss", "pub", "--publish", clip, "--loop", "--subscribe", "nobody")...)
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
	if len(times) < 2 {
		t.Fatalf("%d video pictures in 10 s", len(times))
	}
	var worst float64
	for i := 1; i < len(times); i++ {
		worst = max(worst, times[i]-times[i-1])
	}
	span := times[len(times)-1] - times[0]
	sent := int(span*30) + 1
	t.Logf("%d pictures of %d over %.1f s; longest hole %.0f ms (race=%v)", len(times), sent, span, worst*1000, raceEnabled)
	if len(times) < sent*9/10 {
		t.Errorf("%d of %d pictures recorded under 5 %% loss: retransmission did not repair the losses", len(times), sent)
	}
	if hole := time.Duration(worst * float64(time.Second)); hole > 400*time.Millisecond {
		t.Errorf("a hole of %s in the recorded video under 5 %% loss", hole)
	}
}
