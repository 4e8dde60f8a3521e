package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/daemon"
)

func newMatchCommand() *cobra.Command {
	var cfgPath, engine, output string
	cmd := &cobra.Command{
		Use:   "match -c events.yml EVENT.json|-",
		Short: "Tell which rules an event matches, and for the others the first filter that failed",
		Long: `match reads one event (a file, or - for stdin) and tells, for each event rule of
events.yml, whether it matches, and for each one that does not, the first
filter that failed, in the order the daemon tries them: object, type,
from_engine, from_container, image, image_contains, labels, exit_code.

The event is a Docker event as the engine sends it on GET /events (the API
1.41 form with status, id and from, or the 1.52 form without them), or a line
of a recording (docker-eventsd record). A Docker event names no engine: it is
taken as the first engine of events.yml, or --engine; its container is built
from its attributes as the daemon does for a container it does not know (name,
image, the other attributes as labels). State rules are not about single
events: replay shows them.

Exit status: 0 when a rule matched, 1 when none did, 2 for an input or a config
that cannot be read.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "table" && output != "json" {
				return fmt.Errorf("-o %q: want table or json", output)
			}
			cfg, err := config.Load(cfgPath)
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				return exitCode(2)
			}
			data, err := readMatchInput(cmd.InOrStdin(), args[0])
			if engine == "" && len(cfg.Engines) > 0 {
				engine = cfg.Engines[0].Name
			}
			var ev *daemon.Event
			if err == nil {
				ev, err = daemon.ParseEvent(bytes.TrimSpace(data), engine)
			}
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), "docker-eventsd:", err)
				return exitCode(2)
			}
			res := daemon.Explain(cfg, ev)
			if err := printMatches(cmd.OutOrStdout(), output, res); err != nil {
				return err
			}
			for _, r := range res {
				if r.Matched {
					return nil
				}
			}
			return exitCode(1)
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "path of events.yml (required)")
	cmd.Flags().StringVar(&engine, "engine", "", "the engine a Docker event comes from (default: the first engine of events.yml)")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

// printMatches writes what each rule does with the event.
func printMatches(w io.Writer, output string, res []daemon.RuleMatch) error {
	if output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "RULE\tMATCH\tFAILED FILTER\tWHY")
	for _, r := range res {
		if r.Matched {
			fmt.Fprintf(tw, "%s\tyes\t-\t-\n", r.Rule)
			continue
		}
		fmt.Fprintf(tw, "%s\tno\t%s\t%s\n", r.Rule, r.Filter, r.Reason)
	}
	if len(res) == 0 {
		fmt.Fprintln(tw, "(no event rules)")
	}
	return tw.Flush()
}

// readMatchInput reads the file path ("-": stdin).
func readMatchInput(stdin io.Reader, path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(io.LimitReader(stdin, 16<<20))
	}
	return os.ReadFile(path)
}
