package control

import "context"

// ToneMethods is setToneVolume {volume 0-100}: the peak of the tone of
// join's test source (--publish test), in percent of full scale.
func ToneMethods(t interface{ SetToneVolume(int) }) Methods {
	type volumeParams struct {
		Volume *int `json:"volume"`
	}
	return Methods{
		"setToneVolume": {Handle: handle(func(_ context.Context, p volumeParams) (any, error) {
			volume, err := required("volume", p.Volume)
			if err == nil {
				err = checkRange(CodeInvalidParam, "volume", volume, 0, 100)
			}
			if err != nil {
				return nil, err
			}
			t.SetToneVolume(volume)
			return nil, nil
		})},
	}
}
