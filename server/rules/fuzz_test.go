package rules

import (
	"encoding/json"
	"errors"
	"hash/fnv"
	"math"
	"regexp"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// seedRules are valid and invalid rules for the fuzz corpora.
var seedRules = []string{
	`true`,
	`false`,
	`["and", ["=", ["fact","processorcount"], "2"], ["like", ["fact","manufacturer"], "Dell.*"]]`,
	`["or", ["not", ["!=", ["str", 1], ["lower", "A"]]], ["<", 1, 2], ["<=", 1, 2], [">", 2, 1], [">=", "1GiB", 2]]`,
	`["in", ["fact","virtual","physical"], "kvm", "xen", 1, true]`,
	`["=", ["upper", ["fact","x", 1.5e300]], ["num", "-4 kib"]]`,
	`["and", ["tag","a"], ["tag","b-c"], ["not", ["tag","a"]]]`,
	`["like", ["num", ["fact","mk_hw_mem_size"]], "(?i)^[0-9]+$"]`,
	`["like", ["fact","x"], "a{1000}{1000}"]`,
	`["like", ["fact","x"], "\\"]`,
	`["=", ["fact","a<b"], "\u2028\ufffd"]`,
	`["=", ["fact","x"], -0]`,
	`["=", ["fact","x"], 1e400]`,
	`[">", ["fact","x"], "two"]`,
	`["fact","x"]`,
	`[[]]`,
	`[]`,
	`{"a":1}`,
	`["and", [`,
	`["tag", "a b"]`,
	`["not", ["not", ["not", ["not", ["not", ["not", ["not", ["not", true]]]]]]]]`,
	`null`,
	`"x"`,
	``,
	"[\"=\",[\"fact\",\"\xff\"],\"\xfe\"]",
}

// fuzzFacts are fact maps rules are matched against in the fuzz tests.
var fuzzFacts = []map[string]string{
	nil,
	kvmFacts,
	{"x": "1", "a": "2GiB", "manufacturer": "Dell Inc.", "virtual": "", "a<b": "\u2028\ufffd"},
}

// hashTag resolves tag references to a fixed pseudo-random answer.
func hashTag(name string) (bool, error) {
	h := fnv.New32a()
	h.Write([]byte(name))
	return h.Sum32()%2 == 0, nil
}

var pathPattern = regexp.MustCompile(`^(\[[0-9]+\])*$`)

// FuzzParse: Parse never panics; a rejected rule gets an *Error with a
// well-formed path; an accepted rule's canonical JSON parses to the same
// canonical JSON, the same references and the same results.
func FuzzParse(f *testing.F) {
	for _, s := range seedRules {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse(data)
		if err != nil {
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("Parse(%q) = %v (%T), want an *Error", data, err, err)
			}
			if !pathPattern.MatchString(perr.Path) || perr.Msg == "" {
				t.Fatalf("Parse(%q) = %#v, want a path like [1][2] and a message", data, perr)
			}
			return
		}
		canon, err := r.MarshalJSON()
		if err != nil {
			t.Fatalf("Parse(%q).MarshalJSON() = %v", data, err)
		}
		if !json.Valid(canon) {
			t.Fatalf("Parse(%q).MarshalJSON() = %s, not valid JSON", data, canon)
		}
		r2, err := Parse(canon)
		if err != nil {
			t.Fatalf("Parse(%s) = %v; it is the canonical form of %q", canon, err, data)
		}
		canon2, _ := r2.MarshalJSON()
		if string(canon2) != string(canon) {
			t.Fatalf("canonical form of %q: %s, then %s", data, canon, canon2)
		}
		if diff := cmp.Diff(r.Refs(), r2.Refs()); diff != "" {
			t.Fatalf("Refs of %q and of its canonical form differ (-first +second):\n%s", data, diff)
		}
		for _, facts := range fuzzFacts {
			m1, err1 := r.Match(facts, hashTag)
			m2, err2 := r2.Match(facts, hashTag)
			if err1 != nil || err2 != nil || m1 != m2 {
				t.Fatalf("Match of %q = %v, %v; of %s = %v, %v", data, m1, err1, canon, m2, err2)
			}
		}
	})
}

// FuzzMatch: any rule matched against any facts gives a result and no
// error when tags resolve, and Evaluate never panics either.
func FuzzMatch(f *testing.F) {
	for _, s := range seedRules {
		f.Add(s, "x", "1", "processorcount", "2 GiB")
	}
	f.Add(`["=", ["fact","x"], 1]`, "x", "1.0", "", "")
	f.Add(`[">", ["fact","x"], ["fact","y"]]`, "x", "1e308 EiB", "y", "-0")
	f.Add(`["like", ["fact","x"], "^\\d+$"]`, "x", "\xff12", "y", "")
	constRule := map[bool]*Rule{true: mustParse(f, "true"), false: mustParse(f, "false")}
	f.Fuzz(func(t *testing.T, rule, k1, v1, k2, v2 string) {
		r, err := Parse([]byte(rule))
		if err != nil {
			return
		}
		facts := map[string]string{k1: v1, k2: v2}
		if _, err := r.Match(facts, hashTag); err != nil {
			t.Fatalf("Parse(%q).Match(%q) = %v, want no error", rule, facts, err)
		}
		if _, err := r.Match(facts, nil); err != nil && (len(r.Refs()) == 0 || !errors.Is(err, ErrUnknownTag)) {
			t.Fatalf("Parse(%q).Match(%q, nil) = %v with refs %v", rule, facts, err, r.Refs())
		}
		// The referenced tags are constants; "t" referring to itself is
		// the only possible cycle.
		tags := []Tag{{Name: "t", Rule: r}}
		for _, ref := range r.Refs() {
			if ref != "t" {
				ok, _ := hashTag(ref)
				tags = append(tags, Tag{Name: ref, Rule: constRule[ok]})
			}
		}
		got, err := Evaluate(tags, facts)
		if err != nil {
			if !errors.Is(err, ErrCycle) {
				t.Fatalf("Evaluate(%q) = %v, want a result or ErrCycle", rule, err)
			}
			return
		}
		if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
			t.Fatalf("Evaluate(%q) = %q, not sorted and unique", rule, got)
		}
	})
}

// FuzzSystemTags: system tags are always valid names, sorted and unique.
func FuzzSystemTags(f *testing.F) {
	f.Add("2", "4", "4GiB", "3951.63", "1", "true", "kvm", "Dell Inc.")
	f.Add("", "x", "lots", "-1", "0", "TRUE", "--+", "--+=%")
	f.Add("99999999999999999999", "1e3", "1e308EiB", "1e400", "", "false", "", "\xff\x00")
	f.Fuzz(func(t *testing.T, cpu, proc, mem, memMB, nics, isVirtual, virtual, vendor string) {
		facts := map[string]string{
			"mk_hw_cpu_count": cpu, "processorcount": proc, "mk_hw_mem_size": mem, "memorysize_mb": memMB,
			"mk_hw_nic_count": nics, "is_virtual": isVirtual, "virtual": virtual, "mk_hw_bus_vendor": vendor,
		}
		got := SystemTags(facts)
		for _, name := range got {
			if err := ValidName(name); err != nil {
				t.Fatalf("SystemTags(%q) gave %q: %v", facts, name, err)
			}
		}
		if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
			t.Fatalf("SystemTags(%q) = %q, not sorted and unique", facts, got)
		}
	})
}

// FuzzParseNumber: numbers are finite, and formatNumber's output reads
// back as the same number.
func FuzzParseNumber(f *testing.F) {
	for _, s := range []string{"2", "-1.5e3", "4GiB", " 3.84 GB", "1e308KB", "0x10", "1.", ".5", "5e-324", "Inf"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, ok := parseNumber(s)
		if !ok {
			return
		}
		if math.IsInf(v, 0) || math.IsNaN(v) {
			t.Fatalf("parseNumber(%q) = %v", s, v)
		}
		back, ok := parseNumber(formatNumber(v))
		if !ok || back != v {
			t.Fatalf("parseNumber(formatNumber(%v) = %q) = %v, %v", v, formatNumber(v), back, ok)
		}
	})
}
