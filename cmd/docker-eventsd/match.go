package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/controller"
	"github.com/samalba/docker-eventsd/informer"
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
			ev, err := readMatchInput(cmd.InOrStdin(), args[0], cfg, engine)
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), "docker-eventsd:", err)
				return exitCode(2)
			}
			res := controller.NewExplainer(cfg).Explain(ev)
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
func printMatches(w io.Writer, output string, res []controller.RuleMatch) error {
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

// readMatchInput reads the event of path ("-": stdin).
func readMatchInput(stdin io.Reader, path string, cfg *config.Config, engine string) (*informer.Event, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(io.LimitReader(stdin, 16<<20))
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	if engine == "" && len(cfg.Engines) > 0 {
		engine = cfg.Engines[0].Name
	}
	return parseEvent(bytes.TrimSpace(data), engine)
}

// dockerEvent is an event as the engine sends it on GET /events: Type,
// Action, Actor since API 1.22; status, id and from too until 1.52.
type dockerEvent struct {
	Type   string `json:"Type"`
	Action string `json:"Action"`
	Actor  struct {
		ID         string            `json:"ID"`
		Attributes map[string]string `json:"Attributes"`
	} `json:"Actor"`
	Status   string `json:"status"`
	ID       string `json:"id"`
	From     string `json:"from"`
	Time     int64  `json:"time"`
	TimeNano int64  `json:"timeNano"`
}

// parseEvent reads data: a recording line (an object with "event"), a
// Docker event (with "Type"/"Action" or "status"), or an event as the
// daemon hands it to rules (with "engine").
func parseEvent(data []byte, engine string) (*informer.Event, error) {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(data, &keys); err != nil {
		return nil, fmt.Errorf("the event is not one JSON object: %w", err)
	}
	has := func(k string) bool { _, ok := keys[k]; return ok }
	switch {
	case has("event"):
		var line recordLine
		if err := json.Unmarshal(data, &line); err != nil || line.Event == nil {
			return nil, fmt.Errorf("a recording line without an event: %v", err)
		}
		return line.Event, nil
	case has("baseline"):
		return nil, errors.New("this recording line is an engine's first list, not an event")
	case has("Type") || has("Action") || has("status"):
		var m dockerEvent
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("a Docker event: %w", err)
		}
		return fromDockerEvent(&m, engine)
	case has("engine") && has("type"):
		ev := &informer.Event{}
		if err := json.Unmarshal(data, ev); err != nil {
			return nil, err
		}
		return ev, nil
	}
	return nil, errors.New(`not an event: want a Docker event (Type, Action, Actor), a recording line ("event"), or an event as rules see it ("engine", "type")`)
}

// dockerAttributes are the attributes Docker adds to a container event on
// top of its labels (as the informer reads them).
var dockerAttributes = map[string]bool{
	"name": true, "image": true, "exitCode": true, "signal": true, "oldName": true,
	"execID": true, "execDuration": true, "container": true,
}

// fromDockerEvent makes the event the rules would see of m on engine, its
// container built from the attributes.
func fromDockerEvent(m *dockerEvent, engine string) (*informer.Event, error) {
	typ, action, actor := m.Type, m.Action, m.Actor.ID
	if typ == "" {
		typ = informer.TypeContainer // API < 1.22 sent container events only
	}
	if action == "" {
		action = m.Status
	}
	if actor == "" {
		actor = m.ID
	}
	if action == "" {
		return nil, errors.New("the Docker event has no Action (nor status)")
	}
	attrs := m.Actor.Attributes
	if attrs == nil {
		attrs = map[string]string{}
	}
	nano := m.TimeNano
	if nano == 0 {
		nano = m.Time * int64(time.Second)
	}
	ev := &informer.Event{
		ID: informer.MakeID(engine, nano, actor, action, false), Engine: engine, Type: typ, Action: action,
		ActorID: actor, Attributes: attrs, Time: time.Unix(0, nano),
	}
	if typ != informer.TypeContainer {
		return ev, nil
	}
	image := attrs["image"]
	if image == "" {
		image = m.From
	}
	c := &informer.Container{ID: actor, Engine: engine, Name: strings.TrimPrefix(attrs["name"], "/"), Image: image,
		Labels: map[string]string{}, State: stateAfter(action)}
	for k, v := range attrs {
		if !dockerAttributes[k] {
			c.Labels[k] = v
		}
	}
	if code, err := strconv.Atoi(attrs["exitCode"]); err == nil {
		c.ExitCode = code
	}
	if s, ok := strings.CutPrefix(action, "health_status:"); ok {
		c.Health = strings.TrimSpace(s)
	}
	ev.Container = c
	return ev, nil
}

// stateAfter is the state a container is in after a container action.
func stateAfter(action string) string {
	switch action {
	case "create":
		return informer.StateCreated
	case "die", "stop":
		return informer.StateExited
	case "pause":
		return informer.StatePaused
	case "destroy":
		return informer.StateGone
	}
	return informer.StateRunning
}
