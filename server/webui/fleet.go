package webui

import (
	"net/http"
	"time"

	"github.com/razor-mk/razor-mk/server/core"
	"github.com/razor-mk/razor-mk/server/store"
)

type count struct {
	Name string
	N    int
}

type fleetData struct {
	Total    int
	States   []count
	Tags     []count
	Policies []count
	Booting  []nodeRow
	Errors   []nodeRow
	// From events, when the fleet records them: the latest boot phase of
	// each node or MAC active in the last 10 minutes, and the refusals
	// and failures of the last day.
	Activity   []activity
	Recent     []step
	FromEvents bool
}

// activityWindow and errorWindow bound the fleet page's event views.
const (
	activityWindow = 10 * time.Minute
	errorWindow    = 24 * time.Hour
	maxRecentErrs  = 50
)

func (u *UI) fleetPage(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := r.Context()
	nodes, err := u.o.Fleet.Nodes(ctx)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	tags, err := u.o.Fleet.Tags(ctx)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	pols, err := u.o.Fleet.Policies(ctx)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	d := fleetData{Total: len(nodes)}
	states := map[string]int{}
	now := u.o.Now()
	for _, n := range nodes {
		states[n.State]++
		// Booting now: checked in or registered in the last few minutes
		// and not yet settled into its target.
		if n.State == core.StateBound || (n.State == core.StateActive && now.Sub(lastSeen(n)) < 5*time.Minute && now.Sub(n.Created) < 15*time.Minute) {
			d.Booting = append(d.Booting, u.row(n, nil))
		}
		if n.State == core.StateFailed || n.State == core.StateInactive {
			d.Errors = append(d.Errors, u.row(n, nil))
		}
	}
	for _, st := range []string{core.StateActive, core.StateBound, core.StateBooted, core.StateFailed, core.StateInactive} {
		d.States = append(d.States, count{st, states[st]})
	}
	for _, t := range tags {
		d.Tags = append(d.Tags, count{t.Name, t.Nodes})
	}
	for _, p := range pols {
		d.Policies = append(d.Policies, count{p.Name, p.Count})
	}
	if es, ok := u.eventSource(); ok {
		evs, err := es.Events(ctx, store.EventQuery{Since: now.Add(-errorWindow), Limit: store.MaxEventLimit, Newest: true})
		if err == nil {
			var recent []store.Event
			for _, e := range evs {
				if !e.At.Before(now.Add(-activityWindow)) {
					recent = append(recent, e)
				}
			}
			d.Activity, _ = recentActivity(recent)
			_, d.Recent = recentActivity(evs)
			d.Recent = d.Recent[:min(len(d.Recent), maxRecentErrs)]
			d.FromEvents = true
		}
	}
	u.render(w, r, "fleet", s, d)
}

func lastSeen(n core.NodeInfo) time.Time {
	if n.LastCheckin.After(n.Registered) {
		return n.LastCheckin
	}
	return n.Registered
}
