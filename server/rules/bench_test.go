package rules

import (
	"fmt"
	"testing"
)

const benchRule = `["and", ["=", ["fact","is_virtual"], true], ["in", ["fact","virtual"], "kvm", "qemu"],
	["<=", ["fact","mk_hw_mem_size"], "8GiB"], ["like", ["fact","productname"], "(?i)^standard pc"]]`

func BenchmarkParse(b *testing.B) {
	data := []byte(benchRule)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMatch(b *testing.B) {
	r := mustParse(b, benchRule)
	for b.Loop() {
		if ok, err := r.Match(kvmFacts, nil); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkEvaluate50 is a checkin's tag evaluation with 50 tags, half of
// them referring to another tag.
func BenchmarkEvaluate50(b *testing.B) {
	var tags []Tag
	for i := range 50 {
		rule := benchRule
		if i%2 == 1 {
			rule = fmt.Sprintf(`["and", ["tag","t%d"], [">=", ["fact","processorcount"], %d]]`, i-1, i%4)
		}
		tags = append(tags, Tag{Name: fmt.Sprintf("t%d", i), Rule: mustParse(b, rule)})
	}
	for b.Loop() {
		if _, err := Evaluate(tags, kvmFacts); err != nil {
			b.Fatal(err)
		}
	}
}
