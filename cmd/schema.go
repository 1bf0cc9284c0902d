package cmd

import (
	"github.com/spf13/cobra"

	"github.com/roomctl/roomctl/internal/event"
)

func newSchemaCmd(s Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of one stdout event line",
		Args:  cobra.NoArgs,
		RunE: runE(func(*cobra.Command) error {
			_, err := s.Out.Write(event.SchemaJSON)
			return err
		}),
	}
}
