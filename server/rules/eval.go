package rules

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// kind is the type of a runtime value.
type kind uint8

const (
	missing kind = iota // a fact the node does not have, or a failed conversion
	kString
	kNumber
	kBool
)

// value is a runtime value.
type value struct {
	k kind
	s string
	n float64
	b bool
}

func stringValue(s string) value  { return value{k: kString, s: s} }
func numberValue(f float64) value { return value{k: kNumber, n: f} }
func boolValue(b bool) value      { return value{k: kBool, b: b} }

// jsonValue returns v as a plain Go value for encoding/json.
func (v value) jsonValue() any {
	switch v.k {
	case kString:
		return v.s
	case kNumber:
		return v.n
	case kBool:
		return v.b
	}
	return nil
}

// describe names a literal for error messages.
func (v value) describe() string {
	switch v.k {
	case kString:
		return "the string " + quoteShort(v.s)
	case kNumber:
		return "the number " + formatNumber(v.n)
	case kBool:
		return strconv.FormatBool(v.b)
	}
	return "nothing"
}

// str converts v to a string: numbers in their shortest decimal form,
// booleans as "true" and "false".
func (v value) str() (string, bool) {
	switch v.k {
	case kString:
		return v.s, true
	case kNumber:
		return formatNumber(v.n), true
	case kBool:
		return strconv.FormatBool(v.b), true
	}
	return "", false
}

// num converts v to a number: strings by parseNumber (units allowed).
func (v value) num() (float64, bool) {
	switch v.k {
	case kNumber:
		return v.n, true
	case kString:
		return parseNumber(v.s)
	}
	return 0, false
}

// equal is the equality of "=", "!=" and "in" between two present values:
// same types compare directly; a number equals a string that parses to the
// same number; a boolean equals the string "true" or "false" (any case).
func equal(a, b value) bool {
	if a.k == b.k {
		switch a.k {
		case kString:
			return a.s == b.s
		case kNumber:
			return a.n == b.n
		case kBool:
			return a.b == b.b
		}
		return false
	}
	if a.k == kString {
		a, b = b, a
	}
	if b.k != kString {
		return false // a number and a boolean
	}
	switch a.k {
	case kNumber:
		f, ok := parseNumber(b.s)
		return ok && f == a.n
	case kBool:
		return strings.EqualFold(b.s, strconv.FormatBool(a.b))
	}
	return false
}

// env is what an evaluation reads, and its running cost.
type env struct {
	facts map[string]string
	tag   func(name string) (bool, error)
	cost  *int64
	limit int64
}

// MaxCost is the work one rule may do for one node: a unit per operator
// and, for "like", per byte of the subject times the instructions of the
// compiled pattern (the matcher's worst case per byte). Past it the
// evaluation stops, before the expensive match, with ErrTooExpensive. It
// allows a 64-instruction pattern over a megabyte of facts (about a
// second at worst) and refuses, for example, a 1000-instruction one over
// more than 64 kB.
const MaxCost = 1 << 26

// ErrTooExpensive: a rule went over MaxCost for one node.
var ErrTooExpensive = errors.New("rules: rule too expensive")

func (e env) spend(units int64) error {
	*e.cost += units
	if *e.cost > e.limit {
		return fmt.Errorf("%w: more than %d units of work for one node (a long regular expression over large facts?)", ErrTooExpensive, e.limit)
	}
	return nil
}

// Match evaluates the rule against facts. tag resolves ["tag", name]
// references; it may be nil when the rule has none (see Refs), otherwise a
// reference is an error wrapping ErrUnknownTag. Errors come only from tag;
// any facts, however odd, give a result, unless the rule does more than
// MaxCost work (ErrTooExpensive). The zero Rule matches nothing.
func (r *Rule) Match(facts map[string]string, tag func(name string) (bool, error)) (bool, error) {
	if r == nil || r.root == nil {
		return false, nil
	}
	var cost int64
	v, err := eval(r.root, env{facts: facts, tag: tag, cost: &cost, limit: MaxCost})
	if err != nil {
		return false, err
	}
	return v.k == kBool && v.b, nil
}

// eval evaluates n. Tests yield booleans; values may be missing.
func eval(n *node, e env) (value, error) {
	if err := e.spend(1); err != nil {
		return value{}, err
	}
	switch n.op {
	case opLit:
		return n.lit, nil
	case opFact:
		if s, ok := e.facts[n.text]; ok {
			return stringValue(s), nil
		}
		return n.lit, nil
	case opTag:
		if e.tag == nil {
			return value{}, fmt.Errorf("%w %q: no tags to resolve references against", ErrUnknownTag, n.text)
		}
		ok, err := e.tag(n.text)
		return boolValue(ok), err
	case opAnd, opOr:
		want := n.op == opOr // the result that ends the evaluation early
		for _, a := range n.args {
			v, err := eval(a, e)
			if err != nil {
				return value{}, err
			}
			if v.b == want {
				return boolValue(want), nil
			}
		}
		return boolValue(!want), nil
	case opNot:
		v, err := eval(n.args[0], e)
		return boolValue(!v.b), err
	}

	a, err := eval(n.args[0], e)
	if err != nil {
		return value{}, err
	}
	switch n.op {
	case opIn:
		if a.k == missing {
			return boolValue(false), nil
		}
		for _, arg := range n.args[1:] {
			c, err := eval(arg, e)
			if err != nil {
				return value{}, err
			}
			if c.k != missing && equal(a, c) {
				return boolValue(true), nil
			}
		}
		return boolValue(false), nil
	case opLike:
		s, ok := a.str()
		if !ok {
			return boolValue(false), nil
		}
		if err := e.spend(int64(len(s)) * n.weight); err != nil {
			return value{}, err
		}
		return boolValue(n.re.MatchString(s)), nil
	case opNum:
		if f, ok := a.num(); ok {
			return numberValue(f), nil
		}
		return value{}, nil
	case opStr, opLower, opUpper:
		s, ok := a.str()
		if !ok {
			return value{}, nil
		}
		switch n.op {
		case opLower:
			s = strings.ToLower(s)
		case opUpper:
			s = strings.ToUpper(s)
		}
		return stringValue(s), nil
	}

	// The remaining operators compare two values.
	b, err := eval(n.args[1], e)
	if err != nil {
		return value{}, err
	}
	switch n.op {
	case opEq, opNe:
		if a.k == missing || b.k == missing {
			return boolValue(false), nil
		}
		return boolValue(equal(a, b) == (n.op == opEq)), nil
	case opGt, opGe, opLt, opLe:
		x, xok := a.num()
		y, yok := b.num()
		if !xok || !yok {
			return boolValue(false), nil
		}
		switch n.op {
		case opGt:
			return boolValue(x > y), nil
		case opGe:
			return boolValue(x >= y), nil
		case opLt:
			return boolValue(x < y), nil
		default:
			return boolValue(x <= y), nil
		}
	}
	return value{}, fmt.Errorf("rules: cannot evaluate operator %d", n.op)
}
