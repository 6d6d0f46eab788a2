package httpapi

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkCheckin measures the handler's cost of one checkin of a
// registered node (no network).
func BenchmarkCheckin(b *testing.B) {
	e := newEnv(b, envOpts{})
	const nodes = 1000
	for i := range nodes {
		e.h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/razor/api/node/register",
			strings.NewReader(fmt.Sprintf(`{"hw_id":"5254%08X","attributes_hash":{"processorcount":"2"}}`, i))))
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			req := httptest.NewRequest("GET", fmt.Sprintf("/razor/api/node/checkin?hw_id=5254%08X&last_state=idle", i%nodes), nil)
			rec := httptest.NewRecorder()
			e.h.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatalf("checkin = %d %s", rec.Code, rec.Body)
			}
			i++
		}
	})
}
