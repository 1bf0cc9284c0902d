package control

import "context"

// Pusher is the RTMP push the push methods drive: *push.Pusher. Its
// errors wrap push.ErrURLExists (HAS_ADD_URL), push.ErrTooManyURLs
// (TOO_MUCH_URLS), push.ErrURLNotExist (URL_NOT_EXIST) or
// push.ErrInvalidURL (INVALID_PARAM).
type Pusher interface {
	AddURL(url string) error
	RemoveURL(url string) error
	URLs() []string
}

// PushMethods are push-rtmp's methods: addPublishOriginStreamUrl {url}
// (once joined) and removePublishOriginStreamUrl {url}.
func PushMethods(p Pusher) Methods {
	type urlParams struct {
		URL *string `json:"url"`
	}
	url := func(f func(string) error, needsJoin bool) Method {
		return Method{NeedsJoin: needsJoin, Handle: handle(func(_ context.Context, ps urlParams) (any, error) {
			u, err := required("url", ps.URL)
			if err == nil && u == "" {
				err = errorf(CodeInvalidParam, "url is empty")
			}
			if err != nil {
				return nil, err
			}
			return done(f(u))
		})}
	}
	return Methods{
		"addPublishOriginStreamUrl":    url(p.AddURL, true),
		"removePublishOriginStreamUrl": url(p.RemoveURL, false),
	}
}
