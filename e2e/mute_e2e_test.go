package e2e

// Mute and unmute end to end: a publisher muted and unmuted through
// --control, many times and every way, keeps reaching its subscribers.

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/roomctl/roomctl/internal/dsp/dsptest"
	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/internal/testutil"
	"github.com/roomctl/roomctl/record"
)

// A publisher of the test source (480-Hz tone at 25 %, moving picture)
// goes through 20 cycles of each kind of mute and unmute: audio, video,
// both, redundant unmutes, redundant mutes. Each unmute binds the track
// to its sender again on the same SSRC; a new numbering there used to
// stall the track for good (the server's SRTP dropped it as replays): the
// subscriber's level stayed 0 and it raised the *_RECEIVE_*_TOO_LOW
// exceptions while the publisher went on. Afterwards the subscriber must
// hear the tone (audio_level_report) with no exception left raised, and a
// recorder's file must decode cleanly with the tone and the video going on
// to its end.
func TestMuteCycles(t *testing.T) {
	testutil.Need(t, "ffprobe", "ffmpeg")
	url := serve(t)
	out := t.TempDir()
	pub := start(t, "pub", joinArgs(url, "mu", "pub", "--publish", "test", "--control")...)
	sub := start(t, "sub", joinArgs(url, "mu", "sub", "--audio-level-report")...)
	rec := start(t, "rec", recordArgs(url, "mu", "rec", "--out", out)...)
	sub.Wait(event.FirstVideoFrameDecode, field("uid", "pub"))
	sub.Wait(event.AudioLevelReport, levelOf("pub", 15, 40))
	rec.Wait(record.EventFileOpened, field("uid", "pub"))

	// Each cycle ends where it began, both kinds unmuted. The server tells
	// subscribers of each change (remote_stream_update), not of a command
	// that changes nothing: the cycle is over at its updates-th update, and
	// the commands before the last change were carried out before it.
	kinds := []struct {
		name    string
		cmds    []string
		updates int
	}{
		{"audio", []string{"mute audio", "unmute audio"}, 2},
		{"video", []string{"mute video", "unmute video"}, 2},
		{"both", []string{"mute video", "mute audio", "unmute video", "unmute audio"}, 4},
		{"redundant unmute", []string{"unmute video", "unmute audio", "mute audio", "unmute audio"}, 2},
		{"redundant mute", []string{"mute audio", "mute audio", "mute video", "mute video", "unmute audio", "unmute video"}, 4},
	}
	// Pacing, not a wait: the server drops a socket's messages beyond 50
	// a second (429), and a dropped mute leaves the room believing the
	// old state. One command per 35 ms keeps the publisher's messages
	// (with its pings) well under that.
	pace := time.NewTicker(35 * time.Millisecond)
	defer pace.Stop()
	const cycles = 20
	for _, k := range kinds {
		for range cycles {
			from := sub.Mark()
			for _, c := range k.cmds {
				<-pace.C
				pub.Send(c)
			}
			for range k.updates {
				_, i := sub.WaitFrom(from, event.RemoteStreamUpdate, field("uid", "pub"))
				from = i + 1
			}
		}
		// Heard again after this kind's last unmute (the first report may
		// cover the muted moments: a level of 0 is waited past).
		t.Logf("%d %s cycles done; waiting for pub's tone at the subscriber", cycles, k.name)
		_, i := sub.WaitFrom(sub.Mark(), event.AudioLevelReport, levelOf("pub", 15, 40))
		t.Logf("heard again: %s", sub.Lines()[i].Data)
	}

	// Five more reports, each with the tone: 8 s or more of unmuted media,
	// so two exception windows (4 s) at least, the second entirely after
	// the last unmute: a stalled track has raised its exception by then.
	from := sub.Mark()
	for range 5 {
		_, i := sub.WaitFrom(from, event.AudioLevelReport, nil)
		if l := levelsOf(sub.Lines()[i].Data.(json.RawMessage))["pub"]; l < 15 || l > 40 {
			t.Errorf("after the cycles: pub's level %d, want the tone's 25", l)
		}
		from = i + 1
	}
	exceptionsAlternate(t, sub)
	if open := raisedNow(t, sub, "pub"); len(open) > 0 {
		t.Errorf("exceptions still raised for pub after the cycles: %v", open)
	}

	rec.Signal(syscall.SIGINT)
	closed := rec.Wait(record.EventFileClosed, field("uid", "pub"))
	if code := rec.ExitCode(); code != 0 {
		t.Fatalf("record exit %d", code)
	}
	path := testutil.DecodeAs[record.FileClosed](t, closed).Path
	testutil.DecodeClean(t, path)
	recordingEndsWithMedia(t, path)
}

// raisedNow lists uid's exception codes raised and not resumed since.
func raisedNow(t *testing.T, p *proc, uid string) []string {
	t.Helper()
	raised := map[string]bool{}
	for _, l := range p.Lines() {
		if l.Event != event.Exception {
			continue
		}
		d := testutil.DecodeAs[event.ExceptionData](t, l)
		if d.UID != uid {
			continue
		}
		code, resume := strings.CutSuffix(d.Error, "_RESUME")
		raised[code] = !resume
	}
	var open []string
	for c, r := range raised {
		if r {
			open = append(open, c)
		}
	}
	slices.Sort(open)
	return open
}

// recordingEndsWithMedia checks the last seconds of a recording of the
// test source: the tone in (nearly) every 20-ms window, and video frames.
func recordingEndsWithMedia(t *testing.T, path string) {
	t.Helper()
	const (
		win  = 960 // 20 ms at 48 kHz
		last = 4   // seconds of audio checked, before the final half second
		// Seconds of video checked: more, as the recorder may close its
		// file with the video a few seconds behind the audio when it ran
		// short of CPU (-race on a busy machine).
		lastVideo = 8
	)
	x := testutil.DecodePCM(t, path, "-ac", "1", "-ar", "48000")
	end := len(x) - 48000/2
	if end < last*48000 {
		t.Fatalf("recording of %d samples, too short", len(x))
	}
	silent := 0
	for w := end - last*48000; w+win <= end; w += win {
		// The tone's peak is 1/4 of full scale: power 1/32 ≈ 0.031.
		if dsptest.Goertzel(x[w:w+win], 480, 48000) < 0.005 {
			silent++
		}
	}
	if silent > 5 {
		t.Errorf("recording: no tone in %d of the last %d 20-ms windows", silent, last*50)
	}

	// Video packets (one per frame in WebM) in the same span.
	outp := testutil.RunTool(t, "ffprobe", "-v", "error", "-select_streams", "v:0",
		"-show_entries", "packet=pts_time", "-of", "csv=p=0", path)
	var pts []float64
	for _, line := range strings.Fields(outp) {
		if v, err := strconv.ParseFloat(strings.Trim(line, ","), 64); err == nil {
			pts = append(pts, v)
		}
	}
	fileEnd := testutil.LastPacketEnd(t, path).Seconds()
	n := 0
	perSecond := make([]int, int(fileEnd)+1)
	for _, p := range pts {
		if p >= fileEnd-0.5-lastVideo && p < fileEnd-0.5 {
			n++
		}
		if s := int(p); s >= 0 && s < len(perSecond) {
			perSecond[s]++
		}
	}
	t.Logf("recording: %.1f s; %d of the last %d 20-ms windows without the tone; %d video frames in the last %d s; frames per second: %v",
		fileEnd, silent, last*50, n, lastVideo, perSecond)
	// The source sends 30 fps, but an encoder starved of CPU (-race on a
	// busy machine) makes far fewer; a stalled track makes none.
	if n < lastVideo {
		t.Errorf("recording: %d video frames in the last %d s, want frames all along", n, lastVideo)
	}
}
