package event

import (
	"encoding/json"
	"testing"

	"github.com/roomctl/roomctl/internal/ids"
)

// The schema repeats the uid and room rule for readers of schema.json
// alone; it must say what internal/ids enforces.
func TestSchemaIDRuleMatchesIDs(t *testing.T) {
	var doc struct {
		Defs struct {
			ID struct {
				Pattern string `json:"pattern"`
			} `json:"id"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(SchemaJSON, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Defs.ID.Pattern != ids.Pattern {
		t.Fatalf("schema.json $defs.id.pattern %q, internal/ids.Pattern %q", doc.Defs.ID.Pattern, ids.Pattern)
	}
}
