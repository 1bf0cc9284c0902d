package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
)

// noParams is the params of a method that takes none: any field is
// refused.
type noParams struct{}

// handle is a Handler that decodes the params into a P (decodeParams)
// and calls f with them.
func handle[P any](f func(ctx context.Context, p P) (any, error)) Handler {
	return func(ctx context.Context, params json.RawMessage) (any, error) {
		var p P
		if err := decodeParams(params, &p); err != nil {
			return nil, err
		}
		return f(ctx, p)
	}
}

// done is the result of a method that returns nothing, for handlers
// that only have an error.
func done(err error) (any, error) { return nil, err }

// decodeParams reads params into v, a pointer to a struct, strictly: an
// unknown field (a typo, a name in another case) or a value of the wrong
// type is INVALID_PARAM naming the field.
func decodeParams(params json.RawMessage, v any) error {
	if err := checkParamNames(params, reflect.TypeOf(v).Elem()); err != nil {
		return err
	}
	d := json.NewDecoder(bytes.NewReader(params))
	d.DisallowUnknownFields()
	err := d.Decode(v)
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return errorf(CodeInvalidParam, "%s: got JSON %s, want %s", te.Field, te.Value, typeName(te.Type))
	}
	if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return errorf(CodeInvalidParam, "unknown param %s", field)
	}
	return errorf(CodeInvalidParam, "params: %v", err)
}

// checkParamNames refuses a field of params that is not exactly the
// JSON name of a field of t: encoding/json would take "URL" for "url".
func checkParamNames(params json.RawMessage, t reflect.Type) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(params, &fields); err != nil {
		return errorf(CodeInvalidParam, "params: %v", err)
	}
	names := make([]string, 0, t.NumField())
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		names = append(names, name)
	}
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		if !slices.Contains(names, name) {
			return errorf(CodeInvalidParam, "unknown param %q", name)
		}
	}
	return nil
}

// typeName says what a param of type t takes.
func typeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int64:
		return "an integer"
	default:
		return t.String()
	}
}

// required returns *p, or INVALID_PARAM when the param name was absent
// or null.
func required[T any](name string, p *T) (T, error) {
	if p == nil {
		var zero T
		return zero, errorf(CodeInvalidParam, "%s is missing", name)
	}
	return *p, nil
}

// orDefault returns *p, or def when the param was absent or null.
func orDefault[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// checkRange refuses v outside lo-hi with code, naming the param.
func checkRange(code, name string, v, lo, hi int) error {
	if v < lo || v > hi {
		return errorf(code, "%s %d: want %d-%d", name, v, lo, hi)
	}
	return nil
}
