package push

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLookupMode(t *testing.T) {
	m, err := LookupMode(6)
	if err != nil || m.Width != 1280 || m.Height != 720 || m.FPS != 30 || m.Kbps != 1600 {
		t.Errorf("mode 6: %+v, %v", m, err)
	}
	p, err := LookupMode(106)
	if err != nil || p.Width != 720 || p.Height != 1280 || p.Number != 106 {
		t.Errorf("mode 106 is mode 6 portrait: %+v, %v", p, err)
	}
	for _, n := range []int{0, 8, 100, 108, -1} {
		if _, err := LookupMode(n); !errors.Is(err, ErrBadLayout) {
			t.Errorf("mode %d: %v, want ErrBadLayout", n, err)
		}
	}
	for _, m := range landscapeModes {
		if m.Width%2 != 0 || m.Height%2 != 0 {
			t.Errorf("mode %d: odd size %dx%d", m.Number, m.Width, m.Height)
		}
	}
}

func TestParseUser(t *testing.T) {
	u, err := ParseUser("alice")
	if err != nil || u.UID != "alice" || u.Placed {
		t.Errorf("alice: %+v, %v", u, err)
	}
	u, err = ParseUser("bob:10,20,300,200,3")
	if err != nil || !u.Placed || u.X != 10 || u.Y != 20 || u.W != 300 || u.H != 200 || u.Z != 3 {
		t.Errorf("bob:10,20,300,200,3: %+v, %v", u, err)
	}
	for _, bad := range []string{"", "a b", "c:1,2,3", "d:1,2,3,4,5,6", "e:1,2,x,4", ":1,2,3,4"} {
		if _, err := ParseUser(bad); !errors.Is(err, ErrBadLayout) {
			t.Errorf("%q: %v, want ErrBadLayout", bad, err)
		}
	}
}

func TestLoadLayout(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	us, err := LoadLayout(write("ok.json", `{"userList":[
		{"uid":"a","layoutX":0,"layoutY":0,"layoutW":640,"layoutH":360,"zOrder":0,"alpha":1,"audioChannel":0},
		{"uid":"b","layoutX":480,"layoutY":270,"layoutW":160,"layoutH":90,"zOrder":1,"crop":1}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(us) != 2 || !us[1].Placed || !us[1].Crop || us[1].Z != 1 || us[0].W != 640 {
		t.Errorf("layout: %+v", us)
	}
	bare, err := LoadLayout(write("bare.json", `[{"uid":"a"},{"uid":"b"}]`))
	if err != nil || len(bare) != 2 || bare[0].Placed {
		t.Errorf("bare list: %+v, %v", bare, err)
	}
	for name, body := range map[string]string{
		"alpha.json":   `[{"uid":"a","alpha":0.5}]`,
		"channel.json": `[{"uid":"a","audioChannel":1}]`,
		"partial.json": `[{"uid":"a","layoutX":1}]`,
		"uid.json":     `[{"uid":"a b"}]`,
		"empty.json":   `{"userList":[]}`,
		"crop.json":    `[{"uid":"a","crop":2}]`,
		"syntax.json":  `{`,
	} {
		if _, err := LoadLayout(write(name, body)); !errors.Is(err, ErrBadLayout) {
			t.Errorf("%s: %v, want ErrBadLayout", name, err)
		}
	}
	if _, err := LoadLayout(filepath.Join(dir, "missing.json")); !errors.Is(err, ErrBadLayout) {
		t.Errorf("missing file: %v", err)
	}
}

func TestValidateLayout(t *testing.T) {
	m, _ := LookupMode(1) // 320x180
	ok := []LayoutUser{{UID: "a", Placed: true, X: 0, Y: 0, W: 320, H: 180}, {UID: "b", Placed: true, X: 160, Y: 90, W: 160, H: 90}}
	if err := ValidateLayout(m, ok); err != nil {
		t.Errorf("valid layout: %v", err)
	}
	for name, us := range map[string][]LayoutUser{
		"outside": {{UID: "a", Placed: true, X: 200, Y: 0, W: 160, H: 90}},
		"tiny":    {{UID: "a", Placed: true, W: 1, H: 1}},
		"mixed":   {{UID: "a", Placed: true, W: 16, H: 16}, {UID: "b"}},
		"twice":   {{UID: "a"}, {UID: "a"}},
	} {
		if err := ValidateLayout(m, us); !errors.Is(err, ErrBadLayout) {
			t.Errorf("%s: %v, want ErrBadLayout", name, err)
		}
	}
	many := make([]LayoutUser, maxLayoutUsers+1)
	for i := range many {
		many[i].UID = strings.Repeat("u", i+1)
	}
	if err := ValidateLayout(m, many); !errors.Is(err, ErrBadLayout) {
		t.Errorf("%d users: %v", len(many), err)
	}
}

func TestGridCells(t *testing.T) {
	cases := []struct {
		n          int
		cols, rows int
	}{{1, 1, 1}, {2, 2, 1}, {3, 2, 2}, {4, 2, 2}, {5, 3, 2}, {9, 3, 3}, {10, 4, 3}}
	for _, c := range cases {
		cells := gridCells(c.n, 640, 360)
		if len(cells) != c.n {
			t.Fatalf("%d cells for %d", len(cells), c.n)
		}
		cw, ch := (640/c.cols)&^1, (360/c.rows)&^1
		for i, r := range cells {
			want := rect{(i % c.cols) * cw, (i / c.cols) * ch, cw, ch}
			if r != want {
				t.Errorf("n=%d cell %d: %+v, want %+v", c.n, i, r, want)
			}
			if r.x+r.w > 640 || r.y+r.h > 360 {
				t.Errorf("n=%d cell %d leaves the canvas: %+v", c.n, i, r)
			}
		}
	}
	if gridCells(0, 640, 360) != nil {
		t.Error("cells for nobody")
	}
}

func TestFit(t *testing.T) {
	cell := rect{320, 0, 320, 180} // 16:9
	// A 4:3 picture fits with bars left and right.
	src, dst := fit(640, 480, cell, false)
	if src != (rect{0, 0, 640, 480}) || dst != (rect{360, 0, 240, 180}) {
		t.Errorf("fit 4:3 in 16:9: src %+v dst %+v", src, dst)
	}
	// Cropped, it fills the cell and loses top and bottom.
	src, dst = fit(640, 480, cell, true)
	if dst != cell || src != (rect{0, 60, 640, 360}) {
		t.Errorf("crop 4:3 in 16:9: src %+v dst %+v", src, dst)
	}
	// A portrait picture in a landscape cell, cropped: the sides stay.
	src, _ = fit(360, 640, rect{0, 0, 320, 320}, true)
	if src != (rect{0, 140, 360, 360}) {
		t.Errorf("crop 9:16 in 1:1: src %+v", src)
	}
	// Bars top and bottom for a wider picture.
	_, dst = fit(1280, 360, rect{0, 0, 320, 180}, false)
	if dst != (rect{0, 44, 320, 90}) {
		t.Errorf("fit 32:9 in 16:9: dst %+v", dst)
	}
}
