package push

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/roomctl/roomctl/internal/ids"
)

// Mode is an output format of a transcoding task, numbered as the SDK's
// transcoding modes are: 1-7 landscape, 101-107 the same sizes portrait.
type Mode struct {
	Number        int
	Width, Height int
	FPS           int
	Kbps          int // video bit rate
}

// The landscape modes. 1, 5, 6 and 7 are the SDK's; 2-4 fill the gaps
// between them (sizes are multiples of 16 where the SDK's are).
var landscapeModes = []Mode{
	{1, 320, 180, 15, 150},
	{2, 480, 272, 15, 300},
	{3, 640, 360, 15, 400},
	{4, 640, 360, 30, 600},
	{5, 960, 544, 24, 1000},
	{6, 1280, 720, 30, 1600},
	{7, 1920, 1080, 30, 4500},
}

// ErrBadLayout is returned for a transcoding mode or layout that cannot be
// used.
var ErrBadLayout = errors.New("bad transcoding layout")

// LookupMode returns mode n (1-7, 101-107).
func LookupMode(n int) (Mode, error) {
	for _, m := range landscapeModes {
		switch n {
		case m.Number:
			return m, nil
		case m.Number + 100:
			m.Number, m.Width, m.Height = n, m.Height, m.Width
			return m, nil
		}
	}
	return Mode{}, fmt.Errorf("%w: mode %d (want 1-7 landscape or 101-107 portrait)", ErrBadLayout, n)
}

// ModesHelp lists the modes for --help.
func ModesHelp() string {
	var b strings.Builder
	for _, m := range landscapeModes {
		fmt.Fprintf(&b, "  %d / %d  %dx%d / %dx%d, %d fps, %d kb/s\n", m.Number, m.Number+100,
			m.Width, m.Height, m.Height, m.Width, m.FPS, m.Kbps)
	}
	return b.String()
}

// LayoutUser is one user of a transcoding task: where its picture goes on
// the canvas (pixels), and how.
type LayoutUser struct {
	UID string
	// Placed: X, Y, W, H give the cell; otherwise the user has a cell of
	// the default grid while it publishes.
	Placed     bool
	X, Y, W, H int
	Z          int // higher is drawn on top
	// Crop fills the cell and cuts what overflows; otherwise the picture
	// fits in the cell with black bars.
	Crop bool
}

// ParseUser parses --user: uid[:x,y,w,h[,z]].
func ParseUser(s string) (LayoutUser, error) {
	uid, pos, placed := strings.Cut(s, ":")
	u := LayoutUser{UID: uid, Placed: placed}
	if !ids.Valid(uid) {
		return u, fmt.Errorf("%w: --user %q: invalid uid (want %s)", ErrBadLayout, s, ids.Rule)
	}
	if !placed {
		return u, nil
	}
	parts := strings.Split(pos, ",")
	if len(parts) != 4 && len(parts) != 5 {
		return u, fmt.Errorf("%w: --user %q: want uid:x,y,w,h or uid:x,y,w,h,z", ErrBadLayout, s)
	}
	v := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return u, fmt.Errorf("%w: --user %q: %q is not a whole number", ErrBadLayout, s, p)
		}
		v[i] = n
	}
	u.X, u.Y, u.W, u.H = v[0], v[1], v[2], v[3]
	if len(v) == 5 {
		u.Z = v[4]
	}
	return u, nil
}

// layoutFile is the SDK's userList, as JSON: an object with "userList" or
// the bare list. Positions are in pixels of the mode's canvas.
type layoutFile struct {
	UserList []layoutFileUser `json:"userList"`
}

type layoutFileUser struct {
	UID          string   `json:"uid"`
	LayoutX      *int     `json:"layoutX"`
	LayoutY      *int     `json:"layoutY"`
	LayoutW      *int     `json:"layoutW"`
	LayoutH      *int     `json:"layoutH"`
	ZOrder       int      `json:"zOrder"`
	Crop         int      `json:"crop"`
	Alpha        *float64 `json:"alpha"`
	AudioChannel int      `json:"audioChannel"`
}

// LoadLayout reads a layout file (see layoutFile). alpha other than 1 and
// audioChannel other than 0 (both channels) are refused: they are not
// implemented.
func LoadLayout(path string) ([]LayoutUser, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadLayout, err)
	}
	var f layoutFile
	if t := strings.TrimSpace(string(b)); strings.HasPrefix(t, "[") {
		err = json.Unmarshal(b, &f.UserList)
	} else {
		err = json.Unmarshal(b, &f)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadLayout, path, err)
	}
	if len(f.UserList) == 0 {
		return nil, fmt.Errorf("%w: %s: userList is empty", ErrBadLayout, path)
	}
	var us []LayoutUser
	for i, fu := range f.UserList {
		where := fmt.Sprintf("%s: userList[%d]", path, i)
		if !ids.Valid(fu.UID) {
			return nil, fmt.Errorf("%w: %s: invalid uid %q (want %s)", ErrBadLayout, where, fu.UID, ids.Rule)
		}
		if fu.Alpha != nil && math.Abs(*fu.Alpha-1) > 1e-9 {
			return nil, fmt.Errorf("%w: %s: alpha %v: only 1 (opaque) is supported", ErrBadLayout, where, *fu.Alpha)
		}
		if fu.AudioChannel != 0 {
			return nil, fmt.Errorf("%w: %s: audioChannel %d: only 0 (mixed into both channels) is supported", ErrBadLayout, where, fu.AudioChannel)
		}
		if fu.Crop != 0 && fu.Crop != 1 {
			return nil, fmt.Errorf("%w: %s: crop %d: want 0 (fit) or 1 (fill and crop)", ErrBadLayout, where, fu.Crop)
		}
		u := LayoutUser{UID: fu.UID, Z: fu.ZOrder, Crop: fu.Crop == 1}
		set := 0
		for _, p := range []*int{fu.LayoutX, fu.LayoutY, fu.LayoutW, fu.LayoutH} {
			if p != nil {
				set++
			}
		}
		switch set {
		case 0:
		case 4:
			u.Placed = true
			u.X, u.Y, u.W, u.H = *fu.LayoutX, *fu.LayoutY, *fu.LayoutW, *fu.LayoutH
		default:
			return nil, fmt.Errorf("%w: %s: give all of layoutX, layoutY, layoutW, layoutH or none", ErrBadLayout, where)
		}
		us = append(us, u)
	}
	return us, nil
}

// ValidateLayout checks users against the mode's canvas: uids listed once,
// either every user placed or none (the default grid), cells at least 2x2
// pixels and inside the canvas.
func ValidateLayout(m Mode, users []LayoutUser) error {
	seen := map[string]bool{}
	placed := 0
	for _, u := range users {
		if seen[u.UID] {
			return fmt.Errorf("%w: user %q listed twice", ErrBadLayout, u.UID)
		}
		seen[u.UID] = true
		if !u.Placed {
			continue
		}
		placed++
		if u.W < 2 || u.H < 2 || u.X < 0 || u.Y < 0 || u.X+u.W > m.Width || u.Y+u.H > m.Height {
			return fmt.Errorf("%w: user %q at %d,%d size %dx%d is not inside the %dx%d canvas of mode %d",
				ErrBadLayout, u.UID, u.X, u.Y, u.W, u.H, m.Width, m.Height, m.Number)
		}
	}
	if placed != 0 && placed != len(users) {
		return fmt.Errorf("%w: give every user a position or none (none: the default grid)", ErrBadLayout)
	}
	if len(users) > maxLayoutUsers {
		return fmt.Errorf("%w: %d users; at most %d", ErrBadLayout, len(users), maxLayoutUsers)
	}
	return nil
}

// maxLayoutUsers bounds a task's users (the SDK's limit is 17).
const maxLayoutUsers = 17

// rect is a cell on the canvas.
type rect struct{ x, y, w, h int }

// gridCells lays n cells out on a w x h canvas: cols = ceil(sqrt(n)),
// rows = ceil(n/cols), filled row by row; sizes rounded to even.
func gridCells(n, w, h int) []rect {
	if n <= 0 {
		return nil
	}
	cols := int(math.Ceil(math.Sqrt(float64(n))))
	rows := (n + cols - 1) / cols
	cw, ch := (w/cols)&^1, (h/rows)&^1
	cells := make([]rect, n)
	for i := range cells {
		cells[i] = rect{x: (i % cols) * cw, y: (i / cols) * ch, w: cw, h: ch}
	}
	return cells
}

// fit places a sw x sh picture in cell c keeping its aspect ratio: the
// destination rectangle (centred, even) and, when crop, the part of the
// source to take instead of bars.
func fit(sw, sh int, c rect, crop bool) (src, dst rect) {
	src, dst = rect{0, 0, sw, sh}, c
	if sw <= 0 || sh <= 0 {
		return src, dst
	}
	// Compare sw/sh with c.w/c.h without division.
	wider := sw*c.h > c.w*sh
	switch {
	case crop && wider: // cut the sides
		w := (sh * c.w / c.h) &^ 1
		src = rect{((sw - w) / 2) &^ 1, 0, w, sh}
	case crop: // cut top and bottom
		h := (sw * c.h / c.w) &^ 1
		src = rect{0, ((sh - h) / 2) &^ 1, sw, h}
	case wider: // bars top and bottom
		h := (c.w * sh / sw) &^ 1
		dst = rect{c.x, c.y + ((c.h-h)/2)&^1, c.w, h}
	default: // bars left and right
		w := (c.h * sw / sh) &^ 1
		dst = rect{c.x + ((c.w-w)/2)&^1, c.y, w, c.h}
	}
	return src, dst
}

// sortByZ orders cells for drawing: lower zOrder first, then in the order
// given.
func sortByZ[T any](cells []T, z func(T) int) {
	slices.SortStableFunc(cells, func(a, b T) int { return z(a) - z(b) })
}
