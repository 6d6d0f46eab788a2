// Package ratelog is a slog.Handler that rate-limits warnings: a flood
// of packets that each deserve a warning ("pool exhausted", "request
// refused") logs a few lines and then one per interval per message, with
// the count of lines left out; each dropped line is reported to a hook
// (a Prometheus counter). Records below the limited level pass through.
package ratelog

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Options configure New; zero fields take the defaults.
type Options struct {
	// Level is the lowest level limited (default slog.LevelWarn).
	Level slog.Level
	// Burst lines of one message are logged at once (default 5), then
	// one per Every (default 10 s).
	Burst int
	Every time.Duration
	// OnDrop, if set, is called with the message's "event" attribute (or
	// the message when it has none) for each line dropped.
	OnDrop func(event string)
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// New wraps h.
func New(h slog.Handler, o Options) slog.Handler {
	if o.Level == 0 {
		o.Level = slog.LevelWarn
	}
	if o.Burst <= 0 {
		o.Burst = 5
	}
	if o.Every <= 0 {
		o.Every = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &handler{h: h, st: &state{o: o, buckets: map[string]*bucket{}}}
}

type handler struct {
	h  slog.Handler
	st *state // shared by the handlers derived with WithAttrs/WithGroup
}

type state struct {
	o       Options
	mu      sync.Mutex
	buckets map[string]*bucket
}

// bucket is one message's token bucket and its dropped count.
type bucket struct {
	tokens  float64
	last    time.Time
	dropped int
}

// maxKeys bounds the bucket map; messages are constants in our code, so
// this is a guard, not a limit met in practice.
const maxKeys = 1024

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < h.st.o.Level {
		return h.h.Handle(ctx, r)
	}
	key := r.Message
	event := ""
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "event" {
			event = a.Value.String()
			return false
		}
		return true
	})
	if event == "" {
		event = key
	}
	ok, dropped := h.st.allow(key)
	if !ok {
		if h.st.o.OnDrop != nil {
			h.st.o.OnDrop(event)
		}
		return nil
	}
	if dropped > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Int("suppressed", dropped))
	}
	return h.h.Handle(ctx, r)
}

// allow takes a token for key; on success it returns how many lines of
// key were dropped since the last one logged.
func (s *state) allow(key string) (bool, int) {
	now := s.o.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[key]
	if b == nil {
		if len(s.buckets) >= maxKeys {
			for k := range s.buckets {
				delete(s.buckets, k)
				break
			}
		}
		b = &bucket{tokens: float64(s.o.Burst), last: now}
		s.buckets[key] = b
	}
	b.tokens = min(float64(s.o.Burst), b.tokens+now.Sub(b.last).Seconds()/s.o.Every.Seconds())
	b.last = now
	if b.tokens < 1 {
		b.dropped++
		return false, 0
	}
	b.tokens--
	d := b.dropped
	b.dropped = 0
	return true, d
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	return &handler{h: h.h.WithAttrs(as), st: h.st}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{h: h.h.WithGroup(name), st: h.st}
}
