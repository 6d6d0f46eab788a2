package webui

import (
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/razor-mk/razor-mk/server/core"
)

type nodeRow struct {
	ID, MACs, IP, Serial, Product, State, Policy string
	Tags                                         []string
	LastSeen                                     time.Time
}

// row shapes a node for a table; facts may be nil (then read lazily).
func (u *UI) row(n core.NodeInfo, facts map[string]string) nodeRow {
	if facts == nil {
		facts = n.Facts
	}
	return nodeRow{
		ID: n.ID, MACs: joinMACs(n.MACs), IP: primaryIP(facts), Serial: facts["serialnumber"],
		Product: facts["productname"], State: n.State, Policy: n.Policy, Tags: n.Tags, LastSeen: lastSeen(n),
	}
}

// primaryIP is the ipaddress fact, else the first ipaddress_<if>.
func primaryIP(f map[string]string) string {
	if ip := f["ipaddress"]; ip != "" {
		return ip
	}
	var keys []string
	for k := range f {
		if strings.HasPrefix(k, "ipaddress_") && k != "ipaddress_lo" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if f[k] != "" {
			return f[k]
		}
	}
	return ""
}

type nodesData struct {
	Q, State, Tag string
	States        []string
	TagNames      []string
	Rows          []nodeRow
	Total, Shown  int
	Page, Pages   int
	Prev, Next    string
	Truncated     bool
}

// hex12 reduces a MAC in any common spelling to 12 upper-case hex digits.
func hex12(s string) string {
	var b strings.Builder
	for _, c := range strings.ToUpper(s) {
		switch {
		case c >= '0' && c <= '9', c >= 'A' && c <= 'F':
			b.WriteRune(c)
		case c == ':' || c == '-' || c == '.':
		default:
			return ""
		}
	}
	if b.Len() != 12 {
		return ""
	}
	return b.String()
}

// matchesQuery reports whether q names n by id, MAC (any spelling), UUID
// or, with facts, serial number; a free-text q also matches the id,
// serial and product as substrings.
func matchesQuery(n core.NodeInfo, facts map[string]string, q string) bool {
	q = strings.TrimSpace(q)
	if q == "" {
		return true
	}
	if strings.EqualFold(n.ID, q) || (n.UUID != "" && strings.EqualFold(n.UUID, q)) {
		return true
	}
	if h := hex12(q); h != "" {
		for _, m := range n.MACs {
			if hex12(m) == h {
				return true
			}
		}
	}
	lq := strings.ToLower(q)
	if strings.Contains(strings.ToLower(n.ID), lq) {
		return true
	}
	if facts != nil {
		if strings.EqualFold(facts["serialnumber"], q) || (lq != "" && strings.Contains(strings.ToLower(facts["serialnumber"]+" "+facts["productname"]), lq)) {
			return true
		}
	}
	return false
}

func (u *UI) nodesPage(w http.ResponseWriter, r *http.Request, s *session) {
	d, err := u.nodesData(r)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	u.render(w, r, "nodes", s, d)
}

func (u *UI) nodesData(r *http.Request) (nodesData, error) {
	ctx := r.Context()
	q := r.URL.Query()
	d := nodesData{Q: q.Get("q"), State: q.Get("state"), Tag: q.Get("tag"),
		States: []string{core.StateActive, core.StateBound, core.StateBooted, core.StateFailed, core.StateInactive}}
	nodes, err := u.o.Fleet.Nodes(ctx)
	if err != nil {
		return d, err
	}
	tags, err := u.o.Fleet.Tags(ctx)
	if err != nil {
		return d, err
	}
	for _, t := range tags {
		d.TagNames = append(d.TagNames, t.Name)
	}
	d.Total = len(nodes)
	var match []core.NodeInfo
	facts := map[string]map[string]string{}
	scanned := 0
	for _, n := range nodes {
		if d.State != "" && n.State != d.State {
			continue
		}
		if d.Tag != "" && !slices.Contains(n.Tags, d.Tag) {
			continue
		}
		if !matchesQuery(n, nil, d.Q) {
			if d.Q == "" || scanned >= maxFactScan {
				d.Truncated = d.Truncated || d.Q != ""
				continue
			}
			scanned++
			full, err := u.o.Fleet.Node(ctx, n.ID)
			if err != nil || !matchesQuery(full, full.Facts, d.Q) {
				continue
			}
			facts[n.ID] = full.Facts
		}
		match = append(match, n)
	}
	// Most recently seen first: that is who an operator looks for.
	slices.SortStableFunc(match, func(a, b core.NodeInfo) int { return lastSeen(b).Compare(lastSeen(a)) })
	d.Shown = len(match)
	d.Pages = max(1, (len(match)+pageSize-1)/pageSize)
	d.Page, _ = strconv.Atoi(q.Get("page"))
	d.Page = min(max(d.Page, 1), d.Pages)
	lo, hi := (d.Page-1)*pageSize, min(d.Page*pageSize, len(match))
	for _, n := range match[lo:hi] {
		f, ok := facts[n.ID]
		if !ok {
			full, err := u.o.Fleet.Node(ctx, n.ID)
			if err == nil {
				f = full.Facts
			}
		}
		if f == nil {
			f = map[string]string{}
		}
		d.Rows = append(d.Rows, u.row(n, f))
	}
	link := func(page int) string {
		v := url.Values{}
		for k, x := range map[string]string{"q": d.Q, "state": d.State, "tag": d.Tag} {
			if x != "" {
				v.Set(k, x)
			}
		}
		v.Set("page", strconv.Itoa(page))
		return "/ui/nodes?" + v.Encode()
	}
	if d.Page > 1 {
		d.Prev = link(d.Page - 1)
	}
	if d.Page < d.Pages {
		d.Next = link(d.Page + 1)
	}
	return d, nil
}

func joinMACs(ms []string) string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = colonMAC(m)
	}
	return strings.Join(out, " ")
}
