package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/samalba/docker-eventsd/daemon"
	"github.com/samalba/docker-eventsd/endpoint"
)

func newDeadCommand() *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "dead",
		Short: "List, retry or drop the dead letters of a running daemon",
		Long: `A delivery that used up its attempts (or ended with one of its rule's
retry.permanent_exit_codes) is a dead letter: kept with its event, its last
output and exit code, in the state file with --state-dir. dead reaches the
running daemon through its endpoint (run --listen), as status does.

A retried dead letter is queued again as a fresh delivery of the same event
(the same EVENT_ID), its attempts reset (EVENT_ATTEMPT=1), with its rule as the
config has it now.`,
		Args: cobra.NoArgs,
	}
	cmd.PersistentFlags().StringVar(&addr, "addr", endpoint.DefaultAddr, "the daemon's endpoint (its --listen): host:port or unix:///path")

	var output string
	list := &cobra.Command{
		Use:   "list",
		Short: "List the dead letters, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return fmt.Errorf("-o %q: want table or json", output)
			}
			raw, err := callEndpoint(cmd.Context(), addr, http.MethodGet, "/dead", nil)
			if err != nil {
				return err
			}
			if output == "json" {
				_, err := cmd.OutOrStdout().Write(raw)
				return err
			}
			var letters []daemon.DeadLetter
			if err := json.Unmarshal(raw, &letters); err != nil {
				return fmt.Errorf("dead letters from %s: %w", addr, err)
			}
			return printDead(cmd.OutOrStdout(), letters, time.Now())
		},
	}
	list.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")

	var all bool
	retry := &cobra.Command{
		Use:   "retry ID | --all",
		Short: "Queue dead letters again as fresh deliveries of the same events",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := endpoint.DeadRequest{All: all}
			switch {
			case all && len(args) > 0:
				return errors.New("give either an ID or --all, not both")
			case !all:
				id, err := deadID(args)
				if err != nil {
					return err
				}
				req.ID = id
			}
			a, err := postDead(cmd.Context(), addr, "/dead/retry", req)
			if err != nil {
				return err
			}
			switch {
			case all:
				fmt.Fprintf(cmd.OutOrStdout(), "retried %d dead letters\n", a.Retried)
			default:
				fmt.Fprintf(cmd.OutOrStdout(), "retried dead letter %d as delivery %d\n", req.ID, a.Deliveries[0])
			}
			return nil
		},
	}
	retry.Flags().BoolVar(&all, "all", false, "retry every dead letter")

	drop := &cobra.Command{
		Use:   "drop ID",
		Short: "Forget a dead letter",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := deadID(args)
			if err != nil {
				return err
			}
			if _, err := postDead(cmd.Context(), addr, "/dead/drop", endpoint.DeadRequest{ID: id}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "dropped dead letter %d\n", id)
			return nil
		},
	}
	cmd.AddCommand(list, retry, drop)
	return cmd
}

// deadID parses the one ID argument.
func deadID(args []string) (uint64, error) {
	if len(args) != 1 {
		return 0, errors.New("give the dead letter's ID (dead list shows them), or --all")
	}
	id, err := strconv.ParseUint(args[0], 10, 64)
	if err != nil || id == 0 {
		return 0, fmt.Errorf("dead letter ID %q: want a positive number (dead list shows them)", args[0])
	}
	return id, nil
}

// postDead POSTs req to path and returns the daemon's answer; an answer that
// is not 200 is an error with the daemon's reason.
func postDead(ctx context.Context, addr, path string, req endpoint.DeadRequest) (endpoint.DeadAnswer, error) {
	body, _ := json.Marshal(req)
	var a endpoint.DeadAnswer
	raw, err := callEndpoint(ctx, addr, http.MethodPost, path, body)
	var se *statusError
	if errors.As(err, &se) && json.Unmarshal(se.body, &a) == nil && a.Error != "" {
		return a, errors.New(a.Error)
	}
	if err != nil {
		return a, err
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return a, fmt.Errorf("answer from %s: %w", addr, err)
	}
	return a, nil
}

// statusError is an answer of the endpoint that is not 200.
type statusError struct {
	addr, status string
	body         []byte
}

func (e *statusError) Error() string { return fmt.Sprintf("%s: %s", e.addr, e.status) }

// callEndpoint sends a request to the daemon's endpoint at addr (host:port
// or unix:///path) and returns the body of a 200 answer; a JSON body, when
// not nil, is sent with its content type.
func callEndpoint(ctx context.Context, addr, method, path string, body []byte) ([]byte, error) {
	a, err := endpoint.ParseAddr(addr)
	if err != nil {
		return nil, err
	}
	if a.Off() {
		return nil, fmt.Errorf("--addr %q: the daemon's endpoint address is needed", addr)
	}
	tr := &http.Transport{}
	host := a.Address
	if a.Network == "unix" {
		host = "unix"
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", a.Address)
		}
	}
	cl := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	defer tr.CloseIdleConnections()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+host+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := cl.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s from %s (is the daemon running with --listen %s?): %w", path, addr, addr, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%s from %s: %w", path, addr, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &statusError{addr: addr + path, status: resp.Status, body: out}
	}
	return out, nil
}

// printDead writes the dead letters as a table.
func printDead(w io.Writer, letters []daemon.DeadLetter, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "ID\tRULE\tENGINE\tCONTAINER\tEVENT\tATTEMPTS\tEXIT\tGIVEN UP\tLAST OUTPUT")
	for _, l := range letters {
		exit := strconv.Itoa(l.ExitCode)
		switch {
		case l.TimedOut:
			exit = "timeout"
		case l.Permanent:
			exit += " (permanent)"
		}
		out := l.Stderr
		if out == "" {
			out = l.Stdout
		}
		event := l.Event.Action
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", l.ID, l.Rule, l.Engine, dash(l.Container), event,
			l.Attempts, exit, ago(l.At, now), dash(oneLine(lastLine(out))))
	}
	if len(letters) == 0 {
		fmt.Fprintln(tw, "(no dead letters)")
	}
	return tw.Flush()
}

// lastLine returns the last non-empty line of s.
func lastLine(s string) string {
	s = string(bytes.TrimRight([]byte(s), "\n"))
	if i := bytes.LastIndexByte([]byte(s), '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
