// Package eventschema checks stdout lines against the event schema
// (event.SchemaJSON). It is for tests and tools: the JSON Schema compiler it
// uses costs ~10 ms of package initialisation, which the roomctl binary
// does not pay (it never validates its own lines).
package eventschema

import (
	"bytes"
	"fmt"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/roomctl/roomctl/internal/event"
)

// Validator checks lines against SchemaJSON.
type Validator struct {
	s *jsonschema.Schema
}

// New compiles the embedded schema.
func New() (*Validator, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(event.SchemaJSON))
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
