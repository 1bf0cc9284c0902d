package push

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/yutopp/go-amf0"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAVCCFromAnnexB(t *testing.T) {
	au := unhex(t, "00000001"+"0910"+"00000001"+"6742c01e"+"000001"+"68ce3c80"+"000001"+"65888480")
	pic := toPicture(au)
	if !pic.key {
		t.Error("IDR picture not a keyframe")
	}
	if hex.EncodeToString(pic.sps) != "6742c01e" || hex.EncodeToString(pic.pps) != "68ce3c80" {
		t.Errorf("sps %x pps %x", pic.sps, pic.pps)
	}
	// The delimiter goes, parameter sets stay in band, lengths are 4 bytes.
	want := "00000004" + "6742c01e" + "00000004" + "68ce3c80" + "00000004" + "65888480"
	if got := hex.EncodeToString(pic.avcc); got != want {
		t.Errorf("avcc %s, want %s", got, want)
	}
	if p := toPicture(unhex(t, "00000001419a0000")); p.key || hex.EncodeToString(p.avcc) != "00000002419a" {
		t.Errorf("P slice: key %v avcc %x", p.key, p.avcc)
	}
}

// The sequence header's avcC leaves out the High profile extension (the
// record's format is tested in internal/codec/h264).
func TestAVCDecoderConfig(t *testing.T) {
	high := unhex(t, "67640028acd940780227e5c044000003000400000300f03c60c658")
	pps := unhex(t, "680b85ce3c80")
	got, err := avcDecoderConfig(high, pps)
	if err != nil {
		t.Fatal(err)
	}
	if want := 11 + len(high) + len(pps); len(got) != want || got[1] != 0x64 {
		t.Errorf("avcC %x: %d bytes, want %d", got, len(got), want)
	}
	if _, err := avcDecoderConfig(pps, pps); err == nil {
		t.Error("a PPS taken for an SPS")
	}
}

func TestSPSSize(t *testing.T) {
	cases := []struct {
		name string
		sps  string
		w, h int
	}{
		// openh264 via mediadevices, 640x480 constrained baseline
		{"openh264", "6742c01e0b8c8d40501e900f08846a", 640, 480},
		// x264 160x120 baseline (testdata/gop10.h264); 120 = 8 MB rows - 8 cropped
		{"x264 cropped", "", 160, 120},
	}
	aus := accessUnits(t, "testdata/gop10.h264")
	cases[1].sps = hex.EncodeToString(toPicture(aus[0]).sps)
	for _, c := range cases {
		w, h, err := spsSize(unhex(t, c.sps))
		if err != nil || w != c.w || h != c.h {
			t.Errorf("%s: %dx%d %v, want %dx%d", c.name, w, h, err, c.w, c.h)
		}
	}
	if _, _, err := spsSize(unhex(t, "6742c0")); err == nil {
		t.Error("truncated SPS accepted")
	}
}

func TestTagBodies(t *testing.T) {
	if got := hex.EncodeToString(videoTagBody(true, avcSequenceHeader, []byte{1, 2})); got != "17"+"00"+"000000"+"0102" {
		t.Errorf("key sequence header %s", got)
	}
	if got := hex.EncodeToString(videoTagBody(false, avcNALU, []byte{9})); got != "27"+"01"+"000000"+"09" {
		t.Errorf("inter frame %s", got)
	}
	if got := hex.EncodeToString(audioTagBody(aacSequenceHeader, []byte{0x12, 0x10})); got != "af"+"00"+"1210" {
		t.Errorf("AAC sequence header %s", got)
	}
	if got := hex.EncodeToString(audioTagBody(aacRaw, []byte{0x21})); got != "af0121" {
		t.Errorf("AAC frame %s", got)
	}
}

func TestAudioSpecificConfig(t *testing.T) {
	cases := []struct {
		obj, rate, ch int
		want          string
	}{
		{2, 44100, 2, "1210"},
		{2, 48000, 1, "1188"},
		{2, 22050, 2, "1390"},
		{5, 44100, 2, "2a10"},
	}
	for _, c := range cases {
		got, err := audioSpecificConfig(c.obj, c.rate, c.ch)
		if err != nil || hex.EncodeToString(got) != c.want {
			t.Errorf("audioSpecificConfig(%d, %d, %d) = %x %v, want %s", c.obj, c.rate, c.ch, got, err, c.want)
		}
	}
	if _, err := audioSpecificConfig(2, 44000, 2); err == nil {
		t.Error("44000 Hz accepted")
	}
}

func TestMetadataAMF0(t *testing.T) {
	md := metadata{video: true, width: 640, height: 480, audio: true, sampleRate: 44100, channels: 2, audioKbps: 128}
	body := md.scriptBody()
	if !bytes.Equal(body, md.scriptBody()) {
		t.Fatal("metadata not deterministic")
	}
	dec := amf0.NewDecoder(bytes.NewReader(body))
	var name string
	if err := dec.Decode(&name); err != nil || name != "onMetaData" {
		t.Fatalf("name %q %v", name, err)
	}
	var arr amf0.ECMAArray
	if err := dec.Decode(&arr); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"videocodecid": 7.0, "width": 640.0, "height": 480.0, "audiocodecid": 10.0,
		"audiosamplerate": 44100.0, "stereo": true, "audiodatarate": 128.0, "encoder": "roomctl",
	}
	for k, v := range want {
		if arr[k] != v {
			t.Errorf("%s = %v, want %v", k, arr[k], v)
		}
	}
	audioOnly := metadata{audio: true, sampleRate: 44100, channels: 2, audioKbps: 128}.scriptBody()
	if bytes.Contains(audioOnly, []byte("videocodecid")) {
		t.Error("audio-only metadata announces video")
	}
}

func TestFLVFileTag(t *testing.T) {
	b := appendFLVTag(nil, tagVideo, 0x01020304, []byte{0xaa})
	want := "09" + "000001" + "020304" + "01" + "000000" + "aa" + "0000000c"
	if hex.EncodeToString(b) != want {
		t.Errorf("tag %x, want %s", b, want)
	}
	if h := flvHeader(true, true); string(h[:3]) != "FLV" || h[4] != 5 || be32(h[5:9]) != 9 {
		t.Errorf("header %x", h)
	}
}
