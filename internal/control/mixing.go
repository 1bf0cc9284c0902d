package control

import (
	"context"
	"math"
	"time"

	"github.com/roomctl/roomctl/mixing"
)

// Mixer is the audio mixer the mixing methods drive: *mixing.Mixer. Its
// errors wrap mixing's sentinels, which codes names.
type Mixer interface {
	Start(id int, path string, pc mixing.PlayConfig) error
	Stop(id int) error
	Pause(id int) error
	Resume(id int) error
	SetVolume(id, volume int) error
	Position(id int) (time.Duration, error)
	Seek(id int, d time.Duration) error
	Duration(id int) (time.Duration, error)
}

// maxMs is the longest time in ms a time.Duration holds.
const maxMs = math.MaxInt64 / int64(time.Millisecond)

// MixingMethods are mix-audio's methods, on mixing ids 0 and 1 (the id
// param, 0 when left out; INVALID_MIX_ID otherwise):
// startAudioMixing {file, cycle=1, loop=false, playTime=0 ms,
// replace=false, volume=100, id}, stopAudioMixing, pauseAudioMixing and
// resumeAudioMixing {id}, setAudioMixingVolume {volume, id},
// getAudioMixingTime {id} → {"time": ms}, setAudioMixingTime {time, id}
// and getAudioMixingDuration {id} → {"duration": ms}. A volume outside
// 0-100 is INVALID_VOLUME.
func MixingMethods(m Mixer) Methods {
	type idParams struct {
		ID int `json:"id"`
	}
	type volumeParams struct {
		Volume *int `json:"volume"`
		ID     int  `json:"id"`
	}
	type timeParams struct {
		Time *int64 `json:"time"`
		ID   int    `json:"id"`
	}
	onID := func(f func(id int) error) Method {
		return Method{Handle: handle(func(_ context.Context, p idParams) (any, error) {
			if err := checkMixID(p.ID); err != nil {
				return nil, err
			}
			return done(f(p.ID))
		})}
	}
	return Methods{
		"startAudioMixing": {Handle: handle(func(_ context.Context, p startParams) (any, error) {
			file, pc, err := p.check()
			if err != nil {
				return nil, err
			}
			return done(m.Start(p.ID, file, pc))
		})},
		"stopAudioMixing":   onID(m.Stop),
		"pauseAudioMixing":  onID(m.Pause),
		"resumeAudioMixing": onID(m.Resume),
		"setAudioMixingVolume": {Handle: handle(func(_ context.Context, p volumeParams) (any, error) {
			volume, err := required("volume", p.Volume)
			if err == nil {
				err = checkMixID(p.ID)
			}
			if err == nil {
				err = checkRange(CodeInvalidVolume, "volume", volume, 0, 100)
			}
			if err != nil {
				return nil, err
			}
			return done(m.SetVolume(p.ID, volume))
		})},
		"getAudioMixingTime": {Handle: handle(func(_ context.Context, p idParams) (any, error) {
			if err := checkMixID(p.ID); err != nil {
				return nil, err
			}
			d, err := m.Position(p.ID)
			if err != nil {
				return nil, err
			}
			return map[string]int64{"time": d.Milliseconds()}, nil
		})},
		"setAudioMixingTime": {Handle: handle(func(_ context.Context, p timeParams) (any, error) {
			ms, err := required("time", p.Time)
			switch {
			case err != nil:
			case ms < 0 || ms > maxMs:
				err = errorf(CodeInvalidParam, "time %d: want 0 ms to the duration", ms)
			default:
				err = checkMixID(p.ID)
			}
			if err != nil {
				return nil, err
			}
			return done(m.Seek(p.ID, time.Duration(ms)*time.Millisecond))
		})},
		"getAudioMixingDuration": {Handle: handle(func(_ context.Context, p idParams) (any, error) {
			if err := checkMixID(p.ID); err != nil {
				return nil, err
			}
			d, err := m.Duration(p.ID)
			if err != nil {
				return nil, err
			}
			return map[string]int64{"duration": d.Milliseconds()}, nil
		})},
	}
}

// startParams are startAudioMixing's params.
type startParams struct {
	File     *string `json:"file"`
	Cycle    *int    `json:"cycle"`
	Loop     bool    `json:"loop"`
	PlayTime int64   `json:"playTime"` // ms
	Replace  bool    `json:"replace"`
	Volume   *int    `json:"volume"`
	ID       int     `json:"id"`
}

// check returns the file and how to play it, with the defaults.
func (p startParams) check() (file string, pc mixing.PlayConfig, err error) {
	file, err = required("file", p.File)
	if err != nil {
		return "", pc, err
	}
	pc = mixing.PlayConfig{Cycle: orDefault(p.Cycle, 1), Loop: p.Loop, Replace: p.Replace,
		PlayTime: time.Duration(p.PlayTime) * time.Millisecond, Volume: orDefault(p.Volume, 100)}
	switch {
	case file == "":
		return "", pc, errorf(CodeInvalidParam, "file is empty")
	case pc.Cycle < 1:
		return "", pc, errorf(CodeInvalidParam, "cycle %d: want 1 or more", pc.Cycle)
	case p.PlayTime < 0 || p.PlayTime > maxMs:
		return "", pc, errorf(CodeInvalidParam, "playTime %d: want 0-%d ms", p.PlayTime, maxMs)
	}
	if err := checkRange(CodeInvalidVolume, "volume", pc.Volume, 0, 100); err != nil {
		return "", pc, err
	}
	return file, pc, checkMixID(p.ID)
}

// checkMixID refuses a mixing id the mixer does not have.
func checkMixID(id int) error {
	if id < 0 || id >= mixing.MaxPlayers {
		return errorf(CodeInvalidMixID, "mixing id %d: want 0-%d", id, mixing.MaxPlayers-1)
	}
	return nil
}
