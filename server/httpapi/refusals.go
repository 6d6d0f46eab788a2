package httpapi

import (
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/razor-mk/razor-mk/server/events"
	"github.com/razor-mk/razor-mk/server/store"
	"github.com/razor-mk/razor-mk/wire"
)

// refusalEvery: rate-limit refusals of one client are recorded as events
// at most this often, so that a flood does not become a flood of writes.
const refusalEvery = time.Minute

// refusals remembers when a client's rate-limit refusal was last recorded.
type refusals struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func (f *refusals) due(ip string, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.last == nil {
		f.last = map[string]time.Time{}
	}
	if now.Sub(f.last[ip]) < refusalEvery {
		return false
	}
	if len(f.last) > 10000 {
		clear(f.last)
	}
	f.last[ip] = now
	return true
}

// refuse records a refused node request: which request, the field at
// fault (may be ""), why, and the hw_id it claimed (may be "").
func (h *Handler) refuse(r *http.Request, request, field, reason, hwid string) {
	rec := h.o.Core.Recorder()
	if rec == nil {
		return
	}
	e := store.Event{Type: events.Refused, Attrs: map[string]string{"request": request, "reason": reason, "ip": clientIP(r)}}
	if field != "" {
		e.Attrs["field"] = field
	}
	if macs, err := wire.SplitHWID(hwid); err == nil && len(macs) > 0 {
		e.MAC = wire.ColonMAC(macs[0])
		e.Node = h.o.Core.NodeByMAC(macs[0])
	} else {
		e.MAC, e.Node = rec.ByIP(remoteAddr(r))
	}
	rec.Record(e)
}

// refuseInput records a request refused for bad input.
func (h *Handler) refuseInput(r *http.Request, request string, err error, hwid string) {
	field := ""
	var fe *wire.FieldError
	if errors.As(err, &fe) {
		field = fe.Field
	}
	h.refuse(r, request, field, err.Error(), hwid)
}
