package postgres

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/razor-mk/razor-mk/server/store"
	"github.com/razor-mk/razor-mk/server/store/pgtest"
)

// benchStore opens a store on a fresh database of a durable server
// (fsync on), as production runs.
func benchStore(b *testing.B) *Store {
	b.Helper()
	srv := pgtest.New(b, pgtest.Options{Durable: true})
	url, err := srv.CreateDatabase(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	s, err := Open(context.Background(), url, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

var benchFacts = map[string]string{
	"architecture": "x86_64", "processorcount": "2", "physicalprocessorcount": "1", "memorysize": "1.94 GB",
	"memorysize_mb": "1987", "manufacturer": "QEMU", "productname": "Standard PC (Q35 + ICH9, 2009)",
	"is_virtual": "true", "virtual": "kvm", "mk_hw_cpu_count": "2", "mk_hw_mem_size": "2GiB", "mk_hw_nic_count": "1",
}

// Registrations of new nodes from many goroutines, each durable.
func BenchmarkRegisterParallel(b *testing.B) {
	ctx := context.Background()
	s := benchStore(b)
	b.SetParallelism(32)
	var n atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mac := fmt.Sprintf("52%010X", n.Add(1))
			if _, err := s.RegisterNode(ctx, store.Registration{MACs: []string{mac}, Facts: benchFacts, LastState: "idle", At: time.Now()}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
