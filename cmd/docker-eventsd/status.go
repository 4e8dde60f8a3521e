package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/samalba/docker-eventsd/daemon"
	"github.com/samalba/docker-eventsd/endpoint"
)

func newStatusCommand() *cobra.Command {
	var addr, output string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show what a running daemon knows: its engines, rules, queue and dead letters",
		Long: `status asks a running daemon, through its endpoint (run --listen), for its
status: each engine (state, containers, last event, reconnects, API version),
each rule (matched, runs, failed, last run, last error), the queue depth and the
dead letters.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return fmt.Errorf("-o %q: want table or json", output)
			}
			raw, err := fetchStatus(cmd.Context(), addr)
			if err != nil {
				return err
			}
			if output == "json" {
				_, err := cmd.OutOrStdout().Write(raw)
				return err
			}
			var st daemon.Status
			if err := json.Unmarshal(raw, &st); err != nil {
				return fmt.Errorf("status from %s: %w", addr, err)
			}
			return printStatus(cmd.OutOrStdout(), &st, time.Now())
		},
	}
	cmd.Flags().StringVar(&addr, "addr", endpoint.DefaultAddr, "the daemon's endpoint (its --listen): host:port or unix:///path")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

// fetchStatus GETs /status of the endpoint at addr.
func fetchStatus(ctx context.Context, addr string) ([]byte, error) {
	return callEndpoint(ctx, addr, http.MethodGet, "/status", nil)
}

// printStatus writes st as kubectl does: one table per kind of thing.
func printStatus(w io.Writer, st *daemon.Status, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "ENGINE\tURL\tSTATE\tCONTAINERS\tLAST EVENT\tRECONNECTS\tAPI")
	for _, e := range st.Engines {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%d\t%s\n", e.Name, e.URL, e.State, e.Containers,
			ago(e.LastEvent, now), e.Reconnects, dash(e.APIVersion))
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "RULE\tMATCHED\tRUNS\tFAILED\tPENDING\tLAST RUN\tLAST ERROR")
	for _, r := range st.Rules {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\t%s\n", r.Name, r.Matched, r.Runs, r.Failed, r.Pending,
			ago(r.LastRun, now), dash(oneLine(r.LastError)))
	}
	fmt.Fprintln(tw)
	ready := "yes"
	if !st.Ready {
		ready = "no, waiting for " + strings.Join(st.Waiting, ", ")
	}
	health := "ok"
	if len(st.Stuck) > 0 {
		health = "stuck: " + strings.Join(st.Stuck, ", ")
	}
	reload := "ok"
	if !st.Reload.Success {
		reload = "last reload failed"
	}
	fmt.Fprintf(tw, "Queue depth:\t%d\nPending deliveries:\t%d\nDead letters:\t%d\nReady:\t%s\nHealth:\t%s\nConfig:\t%s, loaded %s\nUp since:\t%s\n",
		st.QueueDepth, st.Pending, st.DeadLetters, ready, health, reload, ago(st.Reload.At, now), ago(st.Started, now))
	if h := st.HA; h != nil {
		role := "standby"
		if h.Leading {
			role = "leader"
		}
		fmt.Fprintf(tw, "HA replica:\t%s (%s)\nHA leader:\t%s, since %s, fence token %d\n",
			h.Replica, role, dash(h.Leader), ago(h.LeaderSince, now), h.FenceToken)
		if h.Mode == "shard" {
			fmt.Fprintf(tw, "HA members:\t%s\nHA engines owned:\t%s\n", dash(strings.Join(h.Members, ", ")), dash(strings.Join(h.Owned, ", ")))
		}
	}
	return tw.Flush()
}

// ago returns how long before now t was, kubectl style ("5m3s ago"), or
// "-" for the zero time.
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	if d < 0 {
		d = 0
	}
	return d.Round(time.Second).String() + " ago"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine keeps the first line of s, at most 60 characters.
func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if r := []rune(s); len(r) > 60 {
		s = string(r[:59]) + "…"
	}
	return strconv.Quote(s)[1 : len(strconv.Quote(s))-1]
}
