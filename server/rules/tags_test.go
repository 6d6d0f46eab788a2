package rules

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// tagSet builds tags from name/rule pairs.
func tagSet(t testing.TB, pairs ...string) []Tag {
	t.Helper()
	var out []Tag
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, Tag{Name: pairs[i], Rule: mustParse(t, pairs[i+1])})
	}
	return out
}

func TestEvaluate(t *testing.T) {
	tags := tagSet(t,
		"kvm", `["=", ["fact","virtual"], "kvm"]`,
		"small", `["<", ["fact","mk_hw_mem_size"], "8GiB"]`,
		"small-kvm", `["and", ["tag","kvm"], ["tag","small"]]`,
		"big", `["not", ["tag","small"]]`,
		"dell", `["like", ["fact","manufacturer"], "^Dell"]`,
		"test-lab", `["or", ["tag","dell"], ["tag","small-kvm"]]`,
		"cpus_2", `["=", ["fact","processorcount"], "2"]`,
	)
	tests := []struct {
		name  string
		facts map[string]string
		want  []string
	}{
		{"kvm guest", kvmFacts, []string{"cpus_2", "kvm", "kvm_vm", "memsize_4GiB", "nics_1", "small", "small-kvm", "test-lab"}},
		{"dell server", map[string]string{
			"manufacturer": "Dell Inc.", "mk_hw_mem_size": "256GiB", "mk_hw_cpu_count": "2", "processorcount": "48",
			"is_virtual": "false", "virtual": "physical", "mk_hw_bus_vendor": "Dell Inc.", "mk_hw_nic_count": "4",
		}, []string{"DellInc", "big", "cpus_2", "dell", "memsize_256GiB", "nics_4", "test-lab"}},
		// Without facts every comparison is false, so its negation holds.
		{"no facts", nil, []string{"big"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Evaluate(tags, tc.facts)
			if err != nil {
				t.Fatalf("Evaluate(tags, facts) = %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Evaluate(tags, facts) (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEvaluateNilRule(t *testing.T) {
	tags := []Tag{{Name: "empty"}, {Name: "zero", Rule: &Rule{}}, {Name: "uses-empty", Rule: mustParse(t, `["not", ["tag","empty"]]`)}}
	got, err := Evaluate(tags, map[string]string{})
	if err != nil {
		t.Fatalf("Evaluate = %v", err)
	}
	if diff := cmp.Diff([]string{"uses-empty"}, got); diff != "" {
		t.Errorf("Evaluate(nil rules) (-want +got):\n%s", diff)
	}
}

// Each tag is evaluated once: tag n refers to tag n-1 twice, so without
// memoisation the work would double with every tag.
func TestEvaluateMemoises(t *testing.T) {
	tags := tagSet(t, "t0", `["=", ["fact","virtual"], "kvm"]`)
	for i := 1; i <= 200; i++ {
		prev := fmt.Sprintf("t%d", i-1)
		tags = append(tags, Tag{Name: fmt.Sprintf("t%d", i), Rule: mustParse(t,
			fmt.Sprintf(`["and", ["tag",%q], ["=", ["str", ["tag",%q]], "true"]]`, prev, prev))})
	}
	start := time.Now()
	got, err := Evaluate(tags, kvmFacts)
	if err != nil {
		t.Fatalf("Evaluate(chain) = %v", err)
	}
	if len(got) != 201+4 {
		t.Errorf("Evaluate(chain) gave %d tags, want 205 (201 user tags and 4 system tags): %v", len(got), got)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Evaluate(chain) took %v", d)
	}
}

func TestEvaluateErrors(t *testing.T) {
	tests := []struct {
		name     string
		tags     []string
		sentinel error
		want     string
	}{
		{"unknown tag", []string{"a", `["or", ["tag","b"], true]`}, ErrUnknownTag,
			`rules: unknown tag "b" referenced by tag "a"`},
		{"unknown tag in a branch not taken", []string{"a", `["or", true, ["tag","nope"]]`}, ErrUnknownTag,
			`rules: unknown tag "nope" referenced by tag "a"`},
		{"self reference", []string{"a", `["tag","a"]`}, ErrCycle, "rules: tag reference cycle: a -> a"},
		{"cycle of three", []string{
			"a", `["tag","b"]`,
			"b", `["and", true, ["tag","c"]]`,
			"c", `["or", false, ["not", ["tag","a"]]]`,
		}, ErrCycle, "rules: tag reference cycle: a -> b -> c -> a"},
		{"cycle off to the side", []string{
			"ok", `["tag","x"]`,
			"x", `["tag","y"]`,
			"y", `["or", true, ["tag","x"]]`,
		}, ErrCycle, "rules: tag reference cycle: x -> y -> x"},
		{"duplicate", []string{"a", `true`, "a", `false`}, ErrDuplicateTag, `rules: duplicate tag "a"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tags := tagSet(t, tc.tags...)
			got, err := Evaluate(tags, kvmFacts)
			if !errors.Is(err, tc.sentinel) || err.Error() != tc.want {
				t.Errorf("Evaluate = %v, %v; want error %q", got, err, tc.want)
			}
			if err := CheckCycles(tags); !errors.Is(err, tc.sentinel) || err.Error() != tc.want {
				t.Errorf("CheckCycles = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestCheckCycles(t *testing.T) {
	ok := tagSet(t,
		"a", `["tag","b"]`,
		"b", `["and", ["tag","c"], ["tag","d"]]`,
		"c", `["tag","d"]`,
		"d", `true`,
	)
	if err := CheckCycles(ok); err != nil {
		t.Errorf("CheckCycles(diamond) = %v, want nil", err)
	}
	if err := CheckCycles(nil); err != nil {
		t.Errorf("CheckCycles(nil) = %v, want nil", err)
	}
	bad := []Tag{{Name: "a b", Rule: mustParse(t, "true")}}
	err := CheckCycles(bad)
	if want := `rules: invalid tag name "a b": may contain only letters, digits and "_.-+=%"`; !errors.Is(err, ErrInvalidName) || err.Error() != want {
		t.Errorf("CheckCycles(bad name) = %v, want %q", err, want)
	}
	// Evaluate does not check names: they were checked when stored.
	if _, err := Evaluate(bad, nil); err != nil {
		t.Errorf("Evaluate(bad name) = %v, want nil", err)
	}
	// A long chain is fine.
	var chain []Tag
	for i := 0; i < 5000; i++ {
		chain = append(chain, Tag{Name: fmt.Sprintf("t%d", i), Rule: mustParse(t, fmt.Sprintf(`["tag","t%d"]`, i+1))})
	}
	chain = append(chain, Tag{Name: "t5000", Rule: mustParse(t, "true")})
	if err := CheckCycles(chain); err != nil {
		t.Errorf("CheckCycles(chain of 5001) = %v", err)
	}
	chain[5000].Rule = mustParse(t, `["tag","t0"]`)
	if err := CheckCycles(chain); !errors.Is(err, ErrCycle) || !strings.HasPrefix(err.Error(), "rules: tag reference cycle: t0 -> t1 -> ") || !strings.HasSuffix(err.Error(), " -> t5000 -> t0") {
		t.Errorf("CheckCycles(ring of 5001) = %.100v, want a cycle t0 -> ... -> t0", err)
	}
}

// The evaluation's own guards against unknown tags and cycles, which
// checkTags normally makes unreachable.
func TestEvaluationGuards(t *testing.T) {
	ev := &evaluation{
		index:  map[string]*Rule{"a": mustParse(t, `["tag","b"]`), "b": mustParse(t, `["tag","a"]`), "c": mustParse(t, `["tag","zz"]`)},
		result: map[string]bool{},
	}
	if _, err := ev.tag("a"); !errors.Is(err, ErrCycle) || err.Error() != `tag "a": tag "b": rules: tag reference cycle: a -> b -> a` {
		t.Errorf("evaluation.tag(a) = %v, want a cycle error", err)
	}
	if _, err := ev.tag("c"); !errors.Is(err, ErrUnknownTag) || err.Error() != `tag "c": rules: unknown tag "zz"` {
		t.Errorf("evaluation.tag(c) = %v, want an unknown tag error", err)
	}
}

func TestValidName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"a", true},
		{"cpus_2", true},
		{"memsize_4GiB", true},
		{"small-kvm.v2", true},
		{"_x", true},
		{"9", true},
		{"a+b=c%", true},
		{strings.Repeat("x", 64), true},
		{strings.Repeat("x", 65), false},
		{"", false},
		{"-a", false},
		{".hidden", false},
		{"+a", false},
		{"a b", false},
		{"a/b", false},
		{"a,b", false},
		{"café", false},
		{"a\n", false},
	}
	for _, tc := range tests {
		err := ValidName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidName(%q) = %v, want ErrInvalidName", tc.name, err)
		}
	}
}

func TestDependentsAndEvaluateOnly(t *testing.T) {
	mk := func(name, rule string) Tag {
		r, err := Parse([]byte(rule))
		if err != nil {
			t.Fatalf("Parse(%s) = %v", rule, err)
		}
		return Tag{Name: name, Rule: r}
	}
	tags := []Tag{
		mk("big", `[">", ["num", ["fact", "memsize"]], 100]`),
		mk("big_intel", `["and", ["tag", "big"], ["like", ["fact", "cpu"], "Intel"]]`),
		mk("big_intel_vm", `["and", ["tag", "big_intel"], ["=", ["fact", "virtual"], "kvm"]]`),
		mk("other", `["=", ["fact", "x"], "1"]`),
	}
	if diff := cmp.Diff([]string{"big", "big_intel", "big_intel_vm"}, Dependents(tags, "big")); diff != "" {
		t.Errorf("Dependents(big) (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"other"}, Dependents(tags, "other")); diff != "" {
		t.Errorf("Dependents(other) (-want +got):\n%s", diff)
	}
	facts := map[string]string{"memsize": "200", "cpu": "Intel Xeon", "virtual": "kvm", "x": "1"}
	got, err := EvaluateOnly(tags, []string{"big_intel_vm", "big_intel"}, facts)
	if err != nil || !cmp.Equal([]string{"big_intel", "big_intel_vm"}, got) {
		t.Errorf("EvaluateOnly = %v, %v", got, err)
	}
	if _, err := EvaluateOnly(tags, []string{"nope"}, facts); !errors.Is(err, ErrUnknownTag) {
		t.Errorf("EvaluateOnly(unknown) = %v, want ErrUnknownTag", err)
	}
}

// A rule that would scan far more than MaxCost for one node stops with
// ErrTooExpensive; the same rule over small facts is fine.
func TestCostLimit(t *testing.T) {
	r, err := Parse([]byte(`["or", ["like", ["fact", "a"], "(x+x+)+y[a-z0-9]{1,40}z"], ["like", ["fact", "b"], "(x+x+)+y[a-z0-9]{1,40}z"]]`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Match(map[string]string{"a": "xxxx", "b": "q"}, nil); err != nil {
		t.Errorf("Match(small facts) = %v", err)
	}
	huge := strings.Repeat("x", 16<<20)
	_, err = r.Match(map[string]string{"a": huge, "b": huge}, nil)
	if !errors.Is(err, ErrTooExpensive) {
		t.Errorf("Match(2 × 16 MiB) = %v, want ErrTooExpensive", err)
	}
}

func TestSetFacts(t *testing.T) {
	tags := tagSet(t,
		"a", `["=", ["fact", "x"], "1"]`,
		"b", `["and", ["tag", "a"], ["like", ["lower", ["fact", "y", "d"]], "z"]]`,
		"c", `[">", ["num", ["fact", "w"]], 1]`,
	)
	s, err := Prepare(tags)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"x", "y"}, s.Facts([]string{"b"})); diff != "" {
		t.Errorf("Facts(b) (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"w", "x"}, s.Facts([]string{"a", "c"})); diff != "" {
		t.Errorf("Facts(a, c) (-want +got):\n%s", diff)
	}
}

// SystemTags reads only SystemFacts.
func TestSystemFactsSuffice(t *testing.T) {
	facts := map[string]string{"mk_hw_cpu_count": "4", "processorcount": "8", "mk_hw_mem_size": "8GiB", "memorysize_mb": "1024",
		"mk_hw_nic_count": "2", "is_virtual": "true", "virtual": "kvm", "mk_hw_bus_vendor": "Dell Inc.", "other": "x", "cpus": "9"}
	only := map[string]string{}
	for _, f := range SystemFacts {
		only[f] = facts[f]
	}
	if diff := cmp.Diff(SystemTags(facts), SystemTags(only)); diff != "" {
		t.Errorf("SystemTags(only SystemFacts) differs (-all +only):\n%s", diff)
	}
	delete(facts, "mk_hw_mem_size")
	delete(only, "mk_hw_mem_size")
	if diff := cmp.Diff(SystemTags(facts), SystemTags(only)); diff != "" {
		t.Errorf("SystemTags(only SystemFacts, memorysize_mb) differs (-all +only):\n%s", diff)
	}
}
