package core

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/razor-mk/razor-mk/server/store/sqlite"
	"github.com/razor-mk/razor-mk/wire"
)

const (
	benchNodes = 10_000
	benchTags  = 100
)

// benchFacts is a node's facts: about the sixty a microkernel reports.
func benchFacts(i int) map[string]string {
	f := map[string]string{
		"memorysize_mb":  fmt.Sprint(1024 * (1 + i%64)),
		"processorcount": fmt.Sprint(1 + i%32),
		"processor0":     []string{"Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz", "AMD EPYC 7763 64-Core Processor"}[i%2],
		"manufacturer":   []string{"Dell Inc.", "HPE", "Supermicro", "QEMU"}[i%4],
		"productname":    fmt.Sprintf("Model %d", i%50),
		"serialnumber":   fmt.Sprintf("SN%08d", i),
		"is_virtual":     fmt.Sprint(i%4 == 3),
		"macaddress":     fmt.Sprintf("52:54:00:%02x:%02x:%02x", i>>16&255, i>>8&255, i&255),
	}
	for j := range 52 {
		f[fmt.Sprintf("fact_%02d", j)] = fmt.Sprintf("value %d of node %d, padded to a realistic length", j, i)
	}
	return f
}

// benchRule is tag k's rule: a mix of comparisons, regular expressions
// and references to earlier tags.
func benchRule(k int) string {
	switch k % 5 {
	case 0:
		return fmt.Sprintf(`[">=", ["num", ["fact", "memorysize_mb"]], %d]`, 1024*(k%64))
	case 1:
		return fmt.Sprintf(`["like", ["fact", "processor0"], "(?i)xeon.*%d|epyc"]`, k)
	case 2:
		return fmt.Sprintf(`["and", ["=", ["fact", "manufacturer"], "Dell Inc."], ["like", ["fact", "productname"], "^Model %d$"]]`, k%50)
	case 3:
		return fmt.Sprintf(`["or", ["tag", "t%03d"], ["=", ["fact", "is_virtual"], "true"]]`, k-3)
	default:
		return fmt.Sprintf(`["like", ["fact", "fact_%02d"], "node [0-9]*%d,"]`, k%52, k%10)
	}
}

// benchCore is a core over SQLite holding benchNodes registered nodes
// and benchTags tags.
func benchCore(b *testing.B) *Core {
	b.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "razor.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	c, err := New(ctx, st, Options{})
	if err != nil {
		b.Fatal(err)
	}
	for k := range benchTags {
		if _, err := c.CreateTag(ctx, fmt.Sprintf("t%03d", k), json.RawMessage(benchRule(k))); err != nil {
			b.Fatal(err)
		}
	}
	for i := range benchNodes {
		if _, _, err := c.Register(ctx, wire.RegisterRequest{HWID: fmt.Sprintf("525400%06x", i), Facts: benchFacts(i), LastState: "idle"}); err != nil {
			b.Fatal(err)
		}
	}
	return c
}

// BenchmarkTagSave saves a tag with 10,000 nodes and 100 tags: one no
// other tag references (evaluated alone), and one that 20 others
// reference (evaluated with them); FullRetag is the former behaviour,
// every tag on every node, for comparison.
func BenchmarkTagSave(b *testing.B) {
	c := benchCore(b)
	ctx := context.Background()
	b.Run("unreferenced", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			rule := fmt.Sprintf(`["like", ["fact", "fact_07"], "node [0-9]*%d,"]`, i%10)
			if _, err := c.UpdateTag(ctx, "t099", json.RawMessage(rule)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("referenced", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			rule := fmt.Sprintf(`[">=", ["num", ["fact", "memorysize_mb"]], %d]`, 1024*(i%64))
			if _, err := c.UpdateTag(ctx, "t000", json.RawMessage(rule)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("full-retag", func(b *testing.B) {
		for b.Loop() {
			c.adminMu.Lock()
			err := c.retag(ctx)
			c.adminMu.Unlock()
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRegister re-registers one node among 10,000 with 100 tags:
// only that node's tags are evaluated.
func BenchmarkRegister(b *testing.B) {
	c := benchCore(b)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		i++
		n := i % benchNodes
		if _, _, err := c.Register(ctx, wire.RegisterRequest{HWID: fmt.Sprintf("525400%06x", n), Facts: benchFacts(n + i), LastState: "idle"}); err != nil {
			b.Fatal(err)
		}
	}
}
