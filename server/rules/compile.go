package rules

import (
	"fmt"
	"math"
	"regexp"
	"regexp/syntax"
	"strconv"
	"unicode/utf8"
)

// op is an operator; opLit marks a literal.
type op uint8

const (
	opLit op = iota
	opAnd
	opOr
	opNot
	opEq
	opNe
	opIn
	opLike
	opGt
	opGe
	opLt
	opLe
	opNum
	opStr
	opLower
	opUpper
	opFact
	opTag
	numOps
)

// opInfo describes an operator: its name, arity and whether it is a test
// (yields a boolean) or yields a value.
type opInfo struct {
	name     string
	min, max int // argument counts; max -1 means unlimited
	test     bool
}

var opTable = [numOps]opInfo{
	opAnd:   {"and", 1, -1, true},
	opOr:    {"or", 1, -1, true},
	opNot:   {"not", 1, 1, true},
	opEq:    {"=", 2, 2, true},
	opNe:    {"!=", 2, 2, true},
	opIn:    {"in", 2, -1, true},
	opLike:  {"like", 2, 2, true},
	opGt:    {">", 2, 2, true},
	opGe:    {">=", 2, 2, true},
	opLt:    {"<", 2, 2, true},
	opLe:    {"<=", 2, 2, true},
	opNum:   {"num", 1, 1, false},
	opStr:   {"str", 1, 1, false},
	opLower: {"lower", 1, 1, false},
	opUpper: {"upper", 1, 1, false},
	opFact:  {"fact", 1, 2, false},
	opTag:   {"tag", 1, 1, true},
}

// opByName maps operator names to operators.
var opByName = func() map[string]op {
	m := make(map[string]op, numOps)
	for o := opAnd; o < numOps; o++ {
		m[opTable[o].name] = o
	}
	return m
}()

// opNames lists the operators for error messages.
var opNames = func() string {
	s := ""
	for o := opAnd; o < numOps; o++ {
		if s != "" {
			s += " "
		}
		s += opTable[o].name
	}
	return s
}()

// node is a compiled expression.
type node struct {
	op   op
	args []*node
	// lit is a literal's value (opLit) or a fact's default (opFact; kind
	// missing when there is none).
	lit value
	// text is the fact name, the tag name or the like pattern.
	text string
	re   *regexp.Regexp
	// weight is the cost per input byte of a like test: it grows with
	// the size of the compiled pattern (see Budget).
	weight int64
}

// test reports whether n yields a boolean.
func (n *node) test() bool {
	if n.op == opLit {
		return n.lit.k == kBool
	}
	return opTable[n.op].test
}

// describe names n for error messages.
func (n *node) describe() string {
	if n.op == opLit {
		return n.lit.describe()
	}
	if n.test() {
		return fmt.Sprintf("a test (%q)", opTable[n.op].name)
	}
	return fmt.Sprintf("a value (%q)", opTable[n.op].name)
}

// tree returns n as plain Go values for the canonical JSON encoding.
func (n *node) tree() any {
	if n.op == opLit {
		return n.lit.jsonValue()
	}
	out := []any{opTable[n.op].name}
	switch n.op {
	case opFact:
		out = append(out, n.text)
		if n.lit.k != missing {
			out = append(out, n.lit.jsonValue())
		}
	case opTag:
		out = append(out, n.text)
	case opLike:
		out = append(out, n.args[0].tree(), n.text)
	default:
		for _, a := range n.args {
			out = append(out, a.tree())
		}
	}
	return out
}

// compiler checks a raw tree and builds nodes, collecting tag references.
type compiler struct {
	refs map[string]bool
	path []int
}

// rule compiles the whole rule, which must be a test.
func (c *compiler) rule(r *raw) (*node, error) {
	n, err := c.expr(r)
	if err != nil {
		return nil, err
	}
	if !n.test() {
		return nil, errAt(nil, `a rule must be a test such as ["=", ...] or true/false, got `+n.describe())
	}
	return n, nil
}

// expr compiles r, a literal or an expression, found at c.path.
func (c *compiler) expr(r *raw) (*node, error) {
	switch r.kind {
	case rawNull:
		return nil, c.err("null is not allowed")
	case rawBool:
		return &node{op: opLit, lit: boolValue(r.b)}, nil
	case rawString:
		return &node{op: opLit, lit: stringValue(r.s)}, nil
	case rawNumber:
		f, err := strconv.ParseFloat(r.num, 64)
		if err != nil || math.IsInf(f, 0) {
			return nil, c.err("number " + r.num + " is out of range")
		}
		return &node{op: opLit, lit: numberValue(f)}, nil
	}
	if len(r.elems) == 0 {
		return nil, c.err(`empty expression: want ["operator", arguments...]`)
	}
	head := r.elems[0]
	if head.kind != rawString {
		c.push(0)
		defer c.pop()
		return nil, c.err("an expression must start with an operator name, got " + describeRaw(head))
	}
	o, ok := opByName[head.s]
	if !ok {
		return nil, c.err(fmt.Sprintf("unknown operator %q (known: %s)", head.s, opNames))
	}
	info := opTable[o]
	args := r.elems[1:]
	if len(args) < info.min || (info.max >= 0 && len(args) > info.max) {
		return nil, c.err(fmt.Sprintf("%q takes %s, got %d", info.name, arity(info), len(args)))
	}
	n := &node{op: o}
	switch o {
	case opFact:
		return c.fact(n, args)
	case opTag:
		return c.tag(n, args[0])
	case opLike:
		return c.like(n, args)
	}
	n.args = make([]*node, len(args))
	for i, a := range args {
		c.push(i + 1)
		arg, err := c.arg(o, a)
		c.pop()
		if err != nil {
			return nil, err
		}
		n.args[i] = arg
	}
	return n, nil
}

// arg compiles an argument of operator o and checks its type.
func (c *compiler) arg(o op, r *raw) (*node, error) {
	n, err := c.expr(r)
	if err != nil {
		return nil, err
	}
	name := opTable[o].name
	switch o {
	case opAnd, opOr, opNot:
		if !n.test() {
			return nil, c.err(fmt.Sprintf("%q expects a test or true/false here, got %s", name, n.describe()))
		}
	case opGt, opGe, opLt, opLe, opNum:
		if n.test() {
			return nil, c.err(fmt.Sprintf("%q expects a number here, got %s", name, n.describe()))
		}
		if n.op == opLit && n.lit.k == kString {
			if _, ok := parseNumber(n.lit.s); !ok {
				return nil, c.err(fmt.Sprintf("%q expects a number here, but %q is not a number", name, n.lit.s))
			}
		}
	case opLower, opUpper:
		if n.test() {
			return nil, c.err(fmt.Sprintf("%q expects a string or number here, got %s", name, n.describe()))
		}
	}
	return n, nil
}

// fact compiles ["fact", name] and ["fact", name, default].
func (c *compiler) fact(n *node, args []*raw) (*node, error) {
	c.push(1)
	name, err := c.factName(args[0])
	c.pop()
	if err != nil {
		return nil, err
	}
	n.text = name
	if len(args) == 2 {
		c.push(2)
		defer c.pop()
		if args[1].kind == rawArray {
			return nil, c.err("a fact default must be a string, number or boolean, got " + describeRaw(args[1]))
		}
		d, err := c.expr(args[1])
		if err != nil {
			return nil, err
		}
		n.lit = d.lit
	}
	return n, nil
}

// factName checks the name argument of "fact".
func (c *compiler) factName(r *raw) (string, error) {
	switch {
	case r.kind != rawString:
		return "", c.err("a fact name must be a string, got " + describeRaw(r))
	case r.s == "":
		return "", c.err("a fact name must not be empty")
	case len(r.s) > MaxFactNameBytes:
		return "", c.err(fmt.Sprintf("a fact name is at most %d bytes, this one is %d", MaxFactNameBytes, len(r.s)))
	}
	return r.s, nil
}

// tag compiles ["tag", name].
func (c *compiler) tag(n *node, arg *raw) (*node, error) {
	c.push(1)
	defer c.pop()
	if arg.kind != rawString {
		return nil, c.err("a tag name must be a string, got " + describeRaw(arg))
	}
	if err := ValidName(arg.s); err != nil {
		return nil, c.err(fmt.Sprintf("invalid tag name %q: %s", arg.s, nameProblem(arg.s)))
	}
	n.text = arg.s
	c.refs[arg.s] = true
	return n, nil
}

// like compiles ["like", value, pattern]; the pattern is compiled here,
// once.
func (c *compiler) like(n *node, args []*raw) (*node, error) {
	c.push(1)
	subject, err := c.expr(args[0])
	if err == nil && subject.test() {
		err = c.err(fmt.Sprintf(`"like" expects a string or number here, got %s`, subject.describe()))
	}
	c.pop()
	if err != nil {
		return nil, err
	}
	c.push(2)
	defer c.pop()
	p := args[1]
	if p.kind != rawString {
		return nil, c.err(`"like" needs a regular expression as a string here, got ` + describeRaw(p))
	}
	if len(p.s) > MaxPatternBytes {
		return nil, c.err(fmt.Sprintf("the regular expression is %d bytes, at most %d are allowed", len(p.s), MaxPatternBytes))
	}
	re, err := regexp.Compile(p.s)
	if err != nil {
		return nil, c.err("bad regular expression: " + err.Error())
	}
	n.args = []*node{subject}
	n.text = p.s
	n.re = re
	// The matcher may step every instruction of the compiled program
	// for each byte of input: that is the worst case it is charged.
	n.weight = 1
	if sre, err := syntax.Parse(p.s, syntax.Perl); err == nil {
		if prog, err := syntax.Compile(sre.Simplify()); err == nil {
			n.weight = max(1, int64(len(prog.Inst)))
		}
	}
	return n, nil
}

func (c *compiler) push(i int) { c.path = append(c.path, i) }
func (c *compiler) pop()       { c.path = c.path[:len(c.path)-1] }

// err returns an *Error at the current path.
func (c *compiler) err(msg string) *Error { return errAt(c.path, msg) }

// arity describes an operator's argument count in words.
func arity(info opInfo) string {
	plural := func(n int) string {
		if n == 1 {
			return "1 argument"
		}
		return strconv.Itoa(n) + " arguments"
	}
	switch {
	case info.max < 0:
		return "at least " + plural(info.min)
	case info.min == info.max:
		return plural(info.min)
	case info.max == info.min+1:
		return fmt.Sprintf("%d or %s", info.min, plural(info.max))
	default:
		return fmt.Sprintf("%d to %s", info.min, plural(info.max))
	}
}

// describeRaw names an unchecked JSON value for error messages.
func describeRaw(r *raw) string {
	switch r.kind {
	case rawNull:
		return "null"
	case rawBool:
		return strconv.FormatBool(r.b)
	case rawNumber:
		return "the number " + r.num
	case rawString:
		return "the string " + quoteShort(r.s)
	}
	if len(r.elems) > 0 && r.elems[0].kind == rawString {
		return fmt.Sprintf("an expression (%s)", quoteShort(r.elems[0].s))
	}
	return "an array"
}

// quoteShort quotes s for an error message, shortened if long.
func quoteShort(s string) string {
	const limit = 40
	if len(s) <= limit {
		return strconv.Quote(s)
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "..."
}
