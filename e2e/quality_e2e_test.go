package e2e

// Quality telemetry end to end: audio levels and the active speaker from
// real tones, network scores and exceptions under real packet loss and a
// real cut (nftables on the server's one UDP port).

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/internal/server"
	"github.com/roomctl/roomctl/internal/testutil"
)

func speaker(uid string) func(json.RawMessage) bool {
	return func(d json.RawMessage) bool {
		var s string
		return json.Unmarshal(d, &s) == nil && s == uid
	}
}

// Two publishers, a loud tone (90) and a quiet one (10), and a subscriber
// with --audio-level-report: the report lists both, ordered as the tones
// are; active_speaker names the loud one, also in the loud publisher's own
// process (the local publisher counts). Swapping the volumes through
// --control moves active_speaker; muting makes a level 0.
func TestQualityLevelsAndSpeaker(t *testing.T) {
	url := serve(t)
	loud := start(t, "loud", joinArgs(url, "lv", "loud", "--publish", "test", "--tone-volume", "90", "--control")...)
	quiet := start(t, "quiet", joinArgs(url, "lv", "quiet", "--publish", "test", "--tone-volume", "10", "--control")...)
	sub := start(t, "sub", joinArgs(url, "lv", "sub", "--audio-level-report")...)

	// The tones' peaks are 90% and 10% of full scale; Opus keeps them
	// within a few points. (A report and active_speaker come from the same
	// second in either order: each is waited for from the same mark.)
	sub.Wait(event.AudioLevelReport, levelsWhere(func(m map[string]int) bool {
		return m["loud"] >= 75 && m["quiet"] >= 5 && m["quiet"] <= 20
	}, "loud", "quiet"))
	sub.Wait(event.ActiveSpeaker, speaker("loud"))
	loud.Wait(event.ActiveSpeaker, speaker("loud"))

	si, li := sub.Mark(), loud.Mark()
	loud.Send("tone-volume 10")
	quiet.Send("tone-volume 90")
	sub.WaitFrom(si, event.ActiveSpeaker, speaker("quiet"))
	loud.WaitFrom(li, event.ActiveSpeaker, speaker("quiet"))
	sub.WaitFrom(si, event.AudioLevelReport, levelsWhere(func(m map[string]int) bool {
		return m["quiet"] >= 75 && m["loud"] >= 5 && m["loud"] <= 20
	}, "loud", "quiet"))

	// Muted, the (now) loud one is 0 and the speaker goes back.
	si = sub.Mark()
	quiet.Send("mute audio")
	sub.WaitFrom(si, event.AudioLevelReport, levelsWhere(func(m map[string]int) bool {
		return m["quiet"] == 0 && m["loud"] >= 5
	}, "loud", "quiet"))
	sub.WaitFrom(si, event.ActiveSpeaker, speaker("loud"))

	if loud.Has(event.AudioLevelReport) || quiet.Has(event.AudioLevelReport) {
		t.Fatal("audio_level_report printed without --audio-level-report")
	}
}

// lossUDP drops percent % of the loopback UDP packets sent to port (the
// server's media port: what publishers send, and subscribers' RTCP), at
// random, until restore is called or the test ends.
func lossUDP(t *testing.T, port, percent int) (restore func()) {
	t.Helper()
	return testutil.NftInput(t, fmt.Sprintf("roomctl_loss_%d", os.Getpid()),
		[]string{"iifname", "lo", "udp", "dport", fmt.Sprint(port),
			"numgen", "random", "mod", "100", "<", fmt.Sprint(percent), "drop"})
}

// scoreWhere matches a network_score whose uplink (up) or downlink score
// satisfies ok.
func scoreWhere(up bool, ok func(int) bool) func(json.RawMessage) bool {
	return func(d json.RawMessage) bool {
		var s event.Score
		if json.Unmarshal(d, &s) != nil {
			return false
		}
		if up {
			return ok(s.Uplink)
		}
		return ok(s.Downlink)
	}
}

func is(n int) func(int) bool                    { return func(v int) bool { return v == n } }
func good(v int) bool                            { return v == 1 || v == 2 }
func exc(code string) func(json.RawMessage) bool { return field("error", code) }

// waitRaised waits until uid's code is raised and not resumed since.
func waitRaised(t *testing.T, p *proc, from int, uid, code string) {
	t.Helper()
	for {
		_, i := p.WaitFrom(from, event.Exception, both(field("uid", uid), exc(code)))
		j := p.Find(i+1, event.Exception, both(field("uid", uid), exc(code+"_RESUME")))
		if j < 0 {
			return
		}
		from = j + 1
	}
}

// exceptionsAlternate checks that, per uid and code, exceptions alternate
// raise, resume, raise…: each raised code resumes exactly once, and
// nothing resumes that was not raised.
func exceptionsAlternate(t *testing.T, p *proc) {
	t.Helper()
	raised := map[string]bool{}
	for _, l := range p.Lines() {
		if l.Event != event.Exception {
			continue
		}
		var d event.ExceptionData
		if err := json.Unmarshal(l.Data.(json.RawMessage), &d); err != nil {
			t.Fatal(err)
		}
		code, resume := strings.CutSuffix(d.Error, "_RESUME")
		k := d.UID + " " + code
		if raised[k] != resume {
			t.Errorf("%s: %s out of order (raised: %v)", p.Name(), d.Error, raised[k])
		}
		raised[k] = !resume
	}
}

// A publisher and a subscriber through the in-process server's one UDP
// port. Loss is applied to packets going to that port, so it hits the
// publisher's uplink once; the server forwards what it got, so the
// subscriber's downlink sees the same loss (as any receiver behind an SFU
// does). Applied to both directions the subscriber's downlink would see
// 1-(1-p)² (15% → 28%, right at the table's 30% step): one direction keeps
// each expectation on one row of the table. Loss is scored on the audio
// stream, which NACK does not repair (see internal/engine/stats.go).
//
// No loss → 1-2; 15% → 3 (video table: 11-20%); 40% → 5 (>30%); a cut →
// 6 and the *_TOO_LOW exceptions on both sides; restored → the _RESUMEs
// and 1-2 again.
func TestQualityImpairedNetwork(t *testing.T) {
	testutil.NeedNft(t)
	port := testutil.FreeUDPPort(t)
	srv, url := inProcessServerWith(t, server.Config{UDPPort: port})
	pub := start(t, "pub", joinArgs(url, "nq", "pub", "--publish", "test")...)
	sub := start(t, "sub", joinArgs(url, "nq", "sub")...)
	sub.WaitFrom(0, event.FirstVideoFrameDecode, field("uid", "pub"))
	mediaFlows(t, srv, "nq", "sub")

	_, pi := pub.WaitFrom(0, event.NetworkScore, scoreWhere(true, good))
	_, si := sub.WaitFrom(0, event.NetworkScore, scoreWhere(false, good))

	restore := lossUDP(t, port, 15)
	_, pi = pub.WaitFrom(pi+1, event.NetworkScore, scoreWhere(true, is(3)))
	_, si = sub.WaitFrom(si+1, event.NetworkScore, scoreWhere(false, is(3)))
	restore()

	restore = lossUDP(t, port, 40)
	p40, s40 := pi+1, si+1
	_, pi = pub.WaitFrom(p40, event.NetworkScore, scoreWhere(true, is(5)))
	_, si = sub.WaitFrom(s40, event.NetworkScore, scoreWhere(false, is(5)))
	restore()

	// The cut: ICE goes disconnected after 3 s (score 6); nothing is
	// received, and once ICE restarts the publisher has no candidate pair
	// to send on, so its writes move nothing either.
	restore = cutUDP(t, port)
	pub.WaitFrom(pi+1, event.NetworkScore, scoreWhere(true, is(6)))
	sub.WaitFrom(si+1, event.NetworkScore, scoreWhere(false, is(6)))
	recv := []string{
		"AUDIO_RECEIVE_BITRATE_TOO_LOW", "VIDEO_RECEIVE_BITRATE_TOO_LOW",
		"VIDEO_RECEIVE_FRAMERATE_TOO_LOW", "VIDEO_DECODE_FRAMERATE_TOO_LOW",
	}
	send := []string{"AUDIO_SEND_BITRATE_TOO_LOW", "VIDEO_SEND_BITRATE_TOO_LOW", "VIDEO_SEND_FRAMERATE_TOO_LOW"}
	// The send codes come first: they need a whole 4-s window inside the
	// cut (after the ICE restart), and in that window every received
	// counter stood still too, so by then every receive code is raised
	// and stays so. Heavy loss may have raised (and resumed) the frame
	// codes before the cut: what counts is the last raise.
	for _, c := range send {
		waitRaised(t, pub, p40, "pub", c)
	}
	for _, c := range recv {
		waitRaised(t, sub, s40, "pub", c)
	}
	// Snapshot the positions once every code is raised: resumes come
	// after the restore.
	sr, pr := sub.Mark(), pub.Mark()
	restore()

	for _, c := range recv {
		sub.WaitFrom(sr, event.Exception, both(field("uid", "pub"), exc(c+"_RESUME")))
	}
	for _, c := range send {
		pub.WaitFrom(pr, event.Exception, both(field("uid", "pub"), exc(c+"_RESUME")))
	}
	pub.WaitFrom(pr, event.NetworkScore, scoreWhere(true, good))
	sub.WaitFrom(sr, event.NetworkScore, scoreWhere(false, good))

	exceptionsAlternate(t, sub)
	exceptionsAlternate(t, pub)
	// The encoder never stopped: the cut is on the network.
	for _, raw := range pub.Raw() {
		if strings.Contains(raw, "VIDEO_ENCODE_FRAMERATE_TOO_LOW") {
			t.Fatalf("the publisher's encoder was reported too slow: %s", raw)
		}
	}
}
