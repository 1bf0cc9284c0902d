package event

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// SchemaJSON is the JSON Schema (draft 2020-12) of one stdout line.
//
//go:embed schema.json
var SchemaJSON []byte

// Validator checks lines against SchemaJSON.
type Validator struct {
	s *jsonschema.Schema
}

// NewValidator compiles the embedded schema.
func NewValidator() (*Validator, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(SchemaJSON))
	if err != nil {
		return nil, fmt.Errorf("parse schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("schema.json", doc); err != nil {
		return nil, fmt.Errorf("add schema: %w", err)
	}
	s, err := c.Compile("schema.json")
	if err != nil {
		return nil, fmt.Errorf("compile schema: %w", err)
	}
	return &Validator{s: s}, nil
}

// Validate checks one NDJSON line (without or with its trailing newline).
func (v *Validator) Validate(line []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(line))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	if err := v.s.Validate(inst); err != nil {
		return fmt.Errorf("line %s: %w", bytes.TrimSpace(line), err)
	}
	return nil
}

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
