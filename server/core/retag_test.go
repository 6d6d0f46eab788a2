package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/razor-mk/razor-mk/server/rules"
)

// After every kind of tag change, each node's cached tags equal a full
// evaluation of all tags over its facts: the incremental path (only the
// changed tag and the tags referencing it) loses nothing.
func TestIncrementalRetagMatchesFullEvaluation(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	for i := range 12 {
		f.register(t, fmt.Sprintf("52540000%04x", i), "", map[string]string{
			"memsize": fmt.Sprint(i * 100), "cpu": []string{"Intel Xeon", "AMD EPYC"}[i%2], "virtual": []string{"kvm", "physical", "vmware"}[i%3],
		})
	}
	check := func(step string) {
		t.Helper()
		set := f.core.tags.Load().tags
		for _, e := range f.core.cache.all() {
			n, err := f.st.GetNode(ctx, e.node.ID)
			if err != nil {
				t.Fatal(err)
			}
			want, err := rules.Evaluate(set, n.Facts)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, e.tags, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("%s: node %s tags (-full +incremental):\n%s", step, n.ID, diff)
			}
		}
	}
	steps := []struct {
		name, tag, rule string
		create          bool
	}{
		{"create big", "big", `[">=", ["num", ["fact", "memsize"]], 500]`, true},
		{"create intel", "intel", `["like", ["fact", "cpu"], "Intel"]`, true},
		{"create big_intel", "big_intel", `["and", ["tag", "big"], ["tag", "intel"]]`, true},
		{"create big_intel_kvm", "big_intel_kvm", `["and", ["tag", "big_intel"], ["=", ["fact", "virtual"], "kvm"]]`, true},
		{"create unrelated", "vmware", `["=", ["fact", "virtual"], "vmware"]`, true},
		{"update big: dependents follow", "big", `[">=", ["num", ["fact", "memsize"]], 200]`, false},
		{"update intel: dependents follow", "intel", `["like", ["fact", "cpu"], "AMD"]`, false},
		{"update unrelated", "vmware", `["!=", ["fact", "virtual"], "vmware"]`, false},
	}
	for _, s := range steps {
		var err error
		if s.create {
			_, err = f.core.CreateTag(ctx, s.tag, json.RawMessage(s.rule))
		} else {
			_, err = f.core.UpdateTag(ctx, s.tag, json.RawMessage(s.rule))
		}
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		check(s.name)
	}
	if err := f.core.DeleteTag(ctx, "vmware"); err != nil {
		t.Fatal(err)
	}
	check("delete unrelated")
	if err := f.core.DeleteTag(ctx, "big_intel_kvm"); err != nil {
		t.Fatal(err)
	}
	check("delete a referencing tag")
}

// A rule too expensive to evaluate is refused with an error naming the
// rule, and nothing is stored.
func TestExpensiveRuleRefused(t *testing.T) {
	ctx := context.Background()
	t.Run("over the evaluation deadline", func(t *testing.T) {
		f := newFixture(t, Options{TagEvalTimeout: 1}) // 1 ns: no node fits
		f.register(t, "525400000001", "", map[string]string{"a": "b"})
		_, err := f.core.CreateTag(ctx, "slow", json.RawMessage(`["=", ["fact", "a"], "b"]`))
		var ie *InputError
		if !errors.As(err, &ie) || ie.Field != "rule" || !strings.Contains(ie.Msg, "too expensive") {
			t.Fatalf("CreateTag = %v, want an InputError on rule saying too expensive", err)
		}
		if _, err := f.core.Tag(ctx, "slow"); err == nil {
			t.Errorf("refused tag was stored")
		}
	})
	t.Run("over the per-node cost", func(t *testing.T) {
		f := newFixture(t, Options{})
		f.register(t, "525400000001", "", map[string]string{"blob": strings.Repeat("0123456789abcdef", 60_000)})
		// 1000 character classes: a long compiled program over ~1 MB.
		rule := `["like", ["fact", "blob"], "[0-9a-f]{1000}x"]`
		_, err := f.core.CreateTag(ctx, "heavy", json.RawMessage(rule))
		var ie *InputError
		if !errors.As(err, &ie) || ie.Field != "rule" || !strings.Contains(ie.Msg, "too expensive") {
			t.Fatalf("CreateTag = %v, want an InputError on rule saying too expensive", err)
		}
		// A cheap rule over the same facts is fine.
		if _, err := f.core.CreateTag(ctx, "cheap", json.RawMessage(`["like", ["fact", "blob"], "^0123"]`)); err != nil {
			t.Errorf("CreateTag(cheap) = %v", err)
		}
	})
}
