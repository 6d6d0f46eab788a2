package facts

import (
	"context"
	"path/filepath"
	"testing"
)

// BenchmarkGatherLive gathers the facts of the machine running the
// benchmark (scripts/bench/30-facts.sh reports its median).
func BenchmarkGatherLive(b *testing.B) {
	for b.Loop() {
		res := Gather(context.Background(), Options{})
		if len(res.Facts) == 0 {
			b.Fatal("no facts")
		}
	}
}

// BenchmarkGatherTree gathers the facts of a captured QEMU guest.
func BenchmarkGatherTree(b *testing.B) {
	opts := Options{Root: filepath.Join(treesDir, "qemu")}
	for b.Loop() {
		Gather(context.Background(), opts)
	}
}
