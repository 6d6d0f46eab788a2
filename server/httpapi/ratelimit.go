package httpapi

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter keeps a token bucket per client address. Idle buckets are
// dropped so that the map stays bounded by the active clients.
type limiter struct {
	rate  rate.Limit
	burst int

	mu      sync.Mutex
	clients map[string]*visitor
	swept   time.Time
}

type visitor struct {
	lim  *rate.Limiter
	seen time.Time
}

// idleAfter is how long a client's bucket is kept without requests; by
// then a bucket has refilled anyway.
const idleAfter = 3 * time.Minute

// newLimiter returns nil (no limit) for perSecond <= 0.
func newLimiter(perSecond float64, burst int) *limiter {
	if perSecond <= 0 {
		return nil
	}
	if burst <= 0 {
		burst = max(int(2*perSecond), 1)
	}
	return &limiter{rate: rate.Limit(perSecond), burst: burst, clients: map[string]*visitor{}}
}

func (l *limiter) allow(addr string) bool {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute {
		for a, v := range l.clients {
			if now.Sub(v.seen) > idleAfter {
				delete(l.clients, a)
			}
		}
		l.swept = now
	}
	v := l.clients[addr]
	if v == nil {
		v = &visitor{lim: rate.NewLimiter(l.rate, l.burst)}
		l.clients[addr] = v
	}
	v.seen = now
	return v.lim.AllowN(now, 1)
}
