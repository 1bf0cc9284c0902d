package e2e

// Quality telemetry end to end: audio levels and the active speaker from
// real tones, network scores and exceptions under real packet loss and a
// real cut (nftables on the server's one UDP port).

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/roomctl/roomctl/internal/event"
	"github.com/roomctl/roomctl/internal/server"
)

// levelsOf reads an audio_level_report payload as uid → level.
func levelsOf(d json.RawMessage) map[string]int {
	var ls []event.AudioLevel
	if json.Unmarshal(d, &ls) != nil {
		return nil
	}
	m := make(map[string]int, len(ls))
	for _, l := range ls {
		m[l.UID] = l.AudioLevel
	}
	return m
}

// levelsWhere matches a report that lists every uid of want and whose
// levels satisfy ok.
func levelsWhere(ok func(map[string]int) bool, want ...string) func(json.RawMessage) bool {
	return func(d json.RawMessage) bool {
		m := levelsOf(d)
		for _, uid := range want {
			if _, in := m[uid]; !in {
				return false
			}
		}
		return ok(m)
	}
}

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
	sub.wait(event.AudioLevelReport, levelsWhere(func(m map[string]int) bool {
		return m["loud"] >= 75 && m["quiet"] >= 5 && m["quiet"] <= 20
	}, "loud", "quiet"))
	sub.wait(event.ActiveSpeaker, speaker("loud"))
	loud.wait(event.ActiveSpeaker, speaker("loud"))

	si, li := sub.mark(), loud.mark()
	fmt.Fprintln(loud.stdin, "tone-volume 10")
	fmt.Fprintln(quiet.stdin, "tone-volume 90")
	sub.waitFrom(si, event.ActiveSpeaker, speaker("quiet"))
	loud.waitFrom(li, event.ActiveSpeaker, speaker("quiet"))
	sub.waitFrom(si, event.AudioLevelReport, levelsWhere(func(m map[string]int) bool {
		return m["quiet"] >= 75 && m["loud"] >= 5 && m["loud"] <= 20
	}, "loud", "quiet"))

	// Muted, the (now) loud one is 0 and the speaker goes back.
	si = sub.mark()
	fmt.Fprintln(quiet.stdin, "mute audio")
	sub.waitFrom(si, event.AudioLevelReport, levelsWhere(func(m map[string]int) bool {
		return m["quiet"] == 0 && m["loud"] >= 5
	}, "loud", "quiet"))
	sub.waitFrom(si, event.ActiveSpeaker, speaker("loud"))

	if loud.has(event.AudioLevelReport) || quiet.has(event.AudioLevelReport) {
		t.Fatal("audio_level_report printed without --audio-level-report")
	}
}

// needNft skips (or, in CI, fails) a test that needs root and nft.
func needNft(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil || os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatalf("network impairment test needs root and nft (scripts/setup.sh installs nftables): %v", err)
		}
		t.Skip("needs root and nft")
	}
}

// lossUDP drops percent % of the loopback UDP packets sent to port (the
// server's media port: what publishers send, and subscribers' RTCP), at
// random, until restore is called or the test ends.
func lossUDP(t *testing.T, port, percent int) (restore func()) {
	t.Helper()
	return nftRules(t, fmt.Sprintf("roomctl_loss_%d", os.Getpid()),
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
func waitRaised(p *proc, from int, uid, code string) {
	p.t.Helper()
	for {
		_, i := p.waitFrom(from, event.Exception, both(field("uid", uid), exc(code)))
		j := p.find(i+1, event.Exception, both(field("uid", uid), exc(code+"_RESUME")))
		if j < 0 {
			return
		}
		from = j + 1
	}
}

// mark is the index the next line will have.
func (p *proc) mark() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.lines)
}

// find returns the index of the first line from index from that matches,
// or -1, without waiting.
func (p *proc) find(from int, name string, pred func(json.RawMessage) bool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := from; i < len(p.lines); i++ {
		if l := p.lines[i]; l.Event == name && (pred == nil || pred(l.Data.(json.RawMessage))) {
			return i
		}
	}
	return -1
}

// exceptionsAlternate checks that, per uid and code, exceptions alternate
// raise, resume, raise…: each raised code resumes exactly once, and
// nothing resumes that was not raised.
func exceptionsAlternate(t *testing.T, p *proc) {
	t.Helper()
	raised := map[string]bool{}
	for _, raw := range p.snapshotRaw() {
		l, err := event.Decode([]byte(raw))
		if err != nil || l.Event != event.Exception {
			continue
		}
		var d event.ExceptionData
		if err := json.Unmarshal(l.Data.(json.RawMessage), &d); err != nil {
			t.Fatal(err)
		}
		code, resume := strings.CutSuffix(d.Error, "_RESUME")
		k := d.UID + " " + code
		if raised[k] != resume {
			t.Errorf("%s: %s out of order (raised: %v)", p.name, d.Error, raised[k])
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
	needNft(t)
	port := freeUDPPort(t)
	srv, url := inProcessServerWith(t, server.Config{UDPPort: port})
	pub := start(t, "pub", joinArgs(url, "nq", "pub", "--publish", "test")...)
	sub := start(t, "sub", joinArgs(url, "nq", "sub")...)
	sub.waitFrom(0, event.FirstVideoFrameDecode, field("uid", "pub"))
	mediaFlows(t, srv, "nq", "sub")

	_, pi := pub.waitFrom(0, event.NetworkScore, scoreWhere(true, good))
	_, si := sub.waitFrom(0, event.NetworkScore, scoreWhere(false, good))

	restore := lossUDP(t, port, 15)
	_, pi = pub.waitFrom(pi+1, event.NetworkScore, scoreWhere(true, is(3)))
	_, si = sub.waitFrom(si+1, event.NetworkScore, scoreWhere(false, is(3)))
	restore()

	restore = lossUDP(t, port, 40)
	p40, s40 := pi+1, si+1
	_, pi = pub.waitFrom(p40, event.NetworkScore, scoreWhere(true, is(5)))
	_, si = sub.waitFrom(s40, event.NetworkScore, scoreWhere(false, is(5)))
	restore()

	// The cut: ICE goes disconnected after 3 s (score 6); nothing is
	// received, and once ICE restarts the publisher has no candidate pair
	// to send on, so its writes move nothing either.
	restore = cutUDP(t, port)
	pub.waitFrom(pi+1, event.NetworkScore, scoreWhere(true, is(6)))
	sub.waitFrom(si+1, event.NetworkScore, scoreWhere(false, is(6)))
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
		waitRaised(pub, p40, "pub", c)
	}
	for _, c := range recv {
		waitRaised(sub, s40, "pub", c)
	}
	// Snapshot the positions once every code is raised: resumes come
	// after the restore.
	sr, pr := len(sub.snapshotRaw()), len(pub.snapshotRaw())
	restore()

	for _, c := range recv {
		sub.waitFrom(sr, event.Exception, both(field("uid", "pub"), exc(c+"_RESUME")))
	}
	for _, c := range send {
		pub.waitFrom(pr, event.Exception, both(field("uid", "pub"), exc(c+"_RESUME")))
	}
	pub.waitFrom(pr, event.NetworkScore, scoreWhere(true, good))
	sub.waitFrom(sr, event.NetworkScore, scoreWhere(false, good))

	exceptionsAlternate(t, sub)
	exceptionsAlternate(t, pub)
	// The encoder never stopped: the cut is on the network.
	for _, raw := range pub.snapshotRaw() {
		if strings.Contains(raw, "VIDEO_ENCODE_FRAMERATE_TOO_LOW") {
			t.Fatalf("the publisher's encoder was reported too slow: %s", raw)
		}
	}
}
