package event

import (
	_ "embed"
	"encoding/json"
	"fmt"
)

// SchemaJSON is the JSON Schema (draft 2020-12) of one stdout line.
//
//go:embed schema.json
var SchemaJSON []byte

// Decode parses a line for tests and scripts.
func Decode(line []byte) (Line, error) {
	var l struct {
		Seq   int64           `json:"seq"`
		TS    string          `json:"ts"`
		Event string          `json:"event"`
		Data  json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(line, &l); err != nil {
		return Line{}, fmt.Errorf("decode line: %w", err)
	}
	return Line{Seq: l.Seq, TS: l.TS, Event: l.Event, Data: l.Data}, nil
}
