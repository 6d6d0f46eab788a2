package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/razor-mk/razor-mk/server/adminapi"
)

// eventFlags select and format events.
type eventFlags struct {
	follow   bool
	since    string
	types    []string
	tail     int
	absolute bool
	node     string
	mac      string
}

func (e *eventFlags) add(cmd *cobra.Command, withNode bool) {
	fl := cmd.Flags()
	fl.BoolVarP(&e.follow, "follow", "f", false, "keep printing new events as they happen (server-sent events)")
	fl.StringVar(&e.since, "since", "", "only events since a time (RFC 3339) or a duration ago (15m)")
	fl.StringSliceVar(&e.types, "type", nil, "only these event types; a prefix selects a family (dhcp, node, command)")
	fl.IntVar(&e.tail, "tail", 50, "without --since: the newest N events (0: the oldest first, up to 1000)")
	fl.BoolVar(&e.absolute, "absolute", false, "print absolute times only (default: absolute and relative to the first line)")
	if withNode {
		fl.StringVar(&e.node, "node", "", "only events of this node id")
		fl.StringVar(&e.mac, "mac", "", "only events of this MAC (any spelling)")
	}
}

func (e *eventFlags) query() adminapi.EventQuery {
	q := adminapi.EventQuery{Since: e.since, Types: e.types, Node: e.node, MAC: e.mac}
	if e.since == "" {
		q.Tail = e.tail
	}
	return q
}

func newEventsCmd() *cobra.Command {
	var e eventFlags
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Print node events (DHCP, files sent, boot scripts, registrations, bindings, commands, refusals)",
		Args:  cobra.NoArgs,
	}
	f := addAdminFlags(cmd)
	e.add(cmd, true)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := f.client()
		if err != nil {
			return err
		}
		evs, err := c.Events(cmd.Context(), e.query())
		if err != nil {
			return err
		}
		return printEvents(cmd, f, &e, c, evs, e.query())
	}
	return cmd
}

func newNodeEventsCmd(f *adminFlags) *cobra.Command {
	var e eventFlags
	cmd := &cobra.Command{
		Use:   "events NODE",
		Short: "Print a node's timeline, from its first DHCP request on",
		Args:  cobra.ExactArgs(1),
	}
	e.add(cmd, false)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := f.client()
		if err != nil {
			return err
		}
		n, err := c.Node(cmd.Context(), args[0]) // an id, a MAC, a UUID or a serial number
		if err != nil {
			return err
		}
		id := n.ID
		evs, err := c.NodeEvents(cmd.Context(), id, e.query())
		if err != nil {
			return err
		}
		q := e.query()
		q.Node = id
		return printEvents(cmd, f, &e, c, evs, q)
	}
	return cmd
}

// printEvents prints evs, then follows the stream when asked.
func printEvents(cmd *cobra.Command, f *adminFlags, e *eventFlags, c *adminapi.Client, evs []adminapi.Event, q adminapi.EventQuery) error {
	w := cmd.OutOrStdout()
	p := &eventPrinter{w: w, absolute: e.absolute, json: f.output == "json" || f.output == "yaml"}
	if f.output == "yaml" {
		p.json = false
		p.yaml = true
	}
	p.header()
	for _, ev := range evs {
		if err := p.print(ev); err != nil {
			return err
		}
	}
	if !e.follow {
		return nil
	}
	after := int64(-1)
	if len(evs) > 0 {
		after = evs[len(evs)-1].ID
	}
	err := c.Stream(cmd.Context(), q, after, p.print)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil // interrupted: the normal end of --follow
	}
	return err
}

type eventPrinter struct {
	w              io.Writer
	absolute, json bool
	yaml           bool
	first          time.Time
	printed        bool
}

func (p *eventPrinter) header() {
	if p.json || p.yaml {
		return
	}
	if p.absolute {
		fmt.Fprintf(p.w, "%-24s %-8s %-17s %-18s %s\n", "TIME", "NODE", "MAC", "TYPE", "DETAILS")
		return
	}
	fmt.Fprintf(p.w, "%-24s %-9s %-8s %-17s %-18s %s\n", "TIME", "+REL", "NODE", "MAC", "TYPE", "DETAILS")
}

func (p *eventPrinter) print(ev adminapi.Event) error {
	switch {
	case p.json:
		return printJSON(p.w, ev)
	case p.yaml:
		return printYAML(p.w, []adminapi.Event{ev})
	}
	if !p.printed {
		p.first, p.printed = ev.Time, true
	}
	ts := ev.Time.Local().Format("2006-01-02T15:04:05.000")
	var err error
	if p.absolute {
		_, err = fmt.Fprintf(p.w, "%-24s %-8s %-17s %-18s %s\n", ts, dash(ev.Node), dash(ev.MAC), ev.Type, details(ev.Attrs))
	} else {
		rel := "+" + strconv.FormatFloat(ev.Time.Sub(p.first).Seconds(), 'f', 1, 64) + "s"
		_, err = fmt.Fprintf(p.w, "%-24s %-9s %-8s %-17s %-18s %s\n", ts, rel, dash(ev.Node), dash(ev.MAC), ev.Type, details(ev.Attrs))
	}
	return err
}

// details formats attributes as sorted key=value pairs.
func details(a map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(a)) {
		v := a[k]
		if v == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		if strings.ContainsAny(v, " \t\"") {
			v = strconv.Quote(v)
		}
		b.WriteString(k + "=" + v)
	}
	return b.String()
}
