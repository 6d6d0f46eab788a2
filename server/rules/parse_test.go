package rules

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// mustParse parses a rule known to be valid.
func mustParse(t testing.TB, s string) *Rule {
	t.Helper()
	r, err := Parse([]byte(s))
	if err != nil {
		t.Fatalf("Parse(%s) = %v, want a rule", s, err)
	}
	return r
}

func TestParseCanonical(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"compact", `["=", ["fact", "processorcount"], "2"]`, `["=",["fact","processorcount"],"2"]`},
		{"whitespace", "\n\t[ \"and\" ,\r\n [\"tag\",\"a\"] ]  \n", `["and",["tag","a"]]`},
		{"design example", `["and", ["=", ["fact","processorcount"], "2"], ["like", ["fact","manufacturer"], "Dell.*"]]`,
			`["and",["=",["fact","processorcount"],"2"],["like",["fact","manufacturer"],"Dell.*"]]`},
		{"numbers shortest", `["in", ["fact","x"], 2.0, 1e3, -0.5, 1E+2, 0.000001, 1e-7, 1e21, 123456789012345678901234]`,
			`["in",["fact","x"],2,1000,-0.5,100,0.000001,1e-7,1e+21,1.2345678901234569e+23]`},
		{"no HTML escaping", `[">=", ["num", ["fact","a<b&c"]], 3]`, `[">=",["num",["fact","a<b&c"]],3]`},
		{"unicode escapes decoded", `["=", ["fact","x"], "caf\u00e9 \"q\" \\ \n"]`, `["=",["fact","x"],"café \"q\" \\ \n"]`},
		{"fact default kept", `["=", ["fact","x", 5], 5]`, `["=",["fact","x",5],5]`},
		{"fact default boolean", `["=", ["fact","x", false], true]`, `["=",["fact","x",false],true]`},
		{"literal true", ` true `, `true`},
		{"literal false", `false`, `false`},
		{"every operator", `["or", ["not", ["!=", ["str", 1], ["lower", "A"]]], ["<", 1, 2], ["<=", 1, 2], [">", 2, 1], ["upper", "a"]]`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Parse([]byte(tc.in))
			if tc.want == "" {
				// An invalid rule kept in the table to show that a value
				// ("upper") is not a test.
				if err == nil {
					t.Fatalf("Parse(%s) = %s, want an error", tc.in, r)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%s) = %v", tc.in, err)
			}
			got, err := r.MarshalJSON()
			if err != nil {
				t.Fatalf("MarshalJSON() = %v", err)
			}
			if string(got) != tc.want {
				t.Errorf("Parse(%s).MarshalJSON() = %s, want %s", tc.in, got, tc.want)
			}
			if r.String() != tc.want {
				t.Errorf("String() = %s, want %s", r.String(), tc.want)
			}
			again := mustParse(t, string(got))
			if again.String() != tc.want {
				t.Errorf("Parse(%s).String() = %s, want %s (not a fixed point)", got, again.String(), tc.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	long := strings.Repeat("x", 300)
	tests := []struct {
		name, in  string
		path, msg string
	}{
		{"empty input", ``, "", "empty rule"},
		{"only spaces", `   `, "", "empty rule"},
		{"bad JSON", `["and",`, "[1]", "invalid JSON: unexpected end of input"},
		{"bad token", `["and", tru]`, "[1]", "invalid JSON: invalid character ']' in literal true (expecting 'e')"},
		{"invalid UTF-8", "[\"=\", [\"fact\",\"x\"], \"\xff\"]", "", "rule is not valid UTF-8"},
		{"trailing data", `["tag","a"] ["tag","b"]`, "", "unexpected data after the rule"},
		{"trailing garbage", `true x`, "", "unexpected data after the rule"},
		{"object root", `{"rule": []}`, "", `objects are not allowed: an expression is an array ["operator", arguments...]`},
		{"object argument", `["and", ["tag","a"], {}]`, "[2]", `objects are not allowed: an expression is an array ["operator", arguments...]`},
		{"null root", `null`, "", "null is not allowed"},
		{"null argument", `["=", ["fact","x"], null]`, "[2]", "null is not allowed"},
		{"string root", `"cpus_2"`, "", `a rule must be a test such as ["=", ...] or true/false, got the string "cpus_2"`},
		{"number root", `2`, "", `a rule must be a test such as ["=", ...] or true/false, got the number 2`},
		{"value root", `["fact","x"]`, "", `a rule must be a test such as ["=", ...] or true/false, got a value ("fact")`},
		{"empty array", `[]`, "", `empty expression: want ["operator", arguments...]`},
		{"nested empty array", `["and", ["tag","a"], []]`, "[2]", `empty expression: want ["operator", arguments...]`},
		{"operator not a string", `[1, 2]`, "[0]", "an expression must start with an operator name, got the number 1"},
		{"operator an array", `[["tag","a"]]`, "[0]", `an expression must start with an operator name, got an expression ("tag")`},
		{"unknown operator", `["and", ["tag","a"], ["eq", 1, 1]]`, "[2]",
			`unknown operator "eq" (known: and or not = != in like > >= < <= num str lower upper fact tag)`},
		{"operator case", `["AND", true]`, "", `unknown operator "AND" (known: and or not = != in like > >= < <= num str lower upper fact tag)`},
		{"and without arguments", `["and"]`, "", `"and" takes at least 1 argument, got 0`},
		{"or without arguments", `["not", ["or"]]`, "[1]", `"or" takes at least 1 argument, got 0`},
		{"not two arguments", `["not", true, false]`, "", `"not" takes 1 argument, got 2`},
		{"= one argument", `["=", 1]`, "", `"=" takes 2 arguments, got 1`},
		{"!= three arguments", `["!=", 1, 2, 3]`, "", `"!=" takes 2 arguments, got 3`},
		{"in one argument", `["in", ["fact","x"]]`, "", `"in" takes at least 2 arguments, got 1`},
		{"like three arguments", `["like", "a", "b", "c"]`, "", `"like" takes 2 arguments, got 3`},
		{"> one argument", `[">", 1]`, "", `">" takes 2 arguments, got 1`},
		{"fact no arguments", `["=", ["fact"], 1]`, "[1]", `"fact" takes 1 or 2 arguments, got 0`},
		{"fact three arguments", `["=", ["fact","a","b","c"], 1]`, "[1]", `"fact" takes 1 or 2 arguments, got 3`},
		{"tag two arguments", `["tag","a","b"]`, "", `"tag" takes 1 argument, got 2`},
		{"num two arguments", `[">", ["num", 1, 2], 1]`, "[1]", `"num" takes 1 argument, got 2`},
		{"str no arguments", `["=", ["str"], ""]`, "[1]", `"str" takes 1 argument, got 0`},
		{"and with a string", `["and", ["tag","a"], "yes"]`, "[2]", `"and" expects a test or true/false here, got the string "yes"`},
		{"or with a fact", `["or", ["fact","is_virtual"]]`, "[1]", `"or" expects a test or true/false here, got a value ("fact")`},
		{"not with a number", `["not", 0]`, "[1]", `"not" expects a test or true/false here, got the number 0`},
		{"deep type error", `["and", true, ["or", false, ["not", ["str", "x"]]]]`, "[2][2][1]", `"not" expects a test or true/false here, got a value ("str")`},
		{"like pattern a number", `["like", ["fact","x"], 5]`, "[2]", `"like" needs a regular expression as a string here, got the number 5`},
		{"like pattern an expression", `["like", ["fact","x"], ["fact","y"]]`, "[2]", `"like" needs a regular expression as a string here, got an expression ("fact")`},
		{"like subject a test", `["like", ["tag","a"], "x"]`, "[1]", `"like" expects a string or number here, got a test ("tag")`},
		{"like subject a boolean", `["like", true, "x"]`, "[1]", `"like" expects a string or number here, got true`},
		{"bad regex", `["like", ["fact","x"], "Dell("]`, "[2]", "bad regular expression: error parsing regexp: missing closing ): `Dell(`"},
		{"bad regex nested", `["or", ["like", ["fact","x"], "a"], ["like", ["fact","x"], "[z-a]"]]`, "[2][2]", "bad regular expression: error parsing regexp: invalid character class range: `z-a`"},
		{"regex too long", `["like", ["fact","x"], "` + strings.Repeat("a", MaxPatternBytes+1) + `"]`, "[2]",
			fmt.Sprintf("the regular expression is %d bytes, at most %d are allowed", MaxPatternBytes+1, MaxPatternBytes)},
		{"fact name a number", `["=", ["fact", 5], 1]`, "[1][1]", "a fact name must be a string, got the number 5"},
		{"fact name an expression", `["=", ["fact", ["str", "x"]], 1]`, "[1][1]", `a fact name must be a string, got an expression ("str")`},
		{"fact name empty", `["=", ["fact", ""], 1]`, "[1][1]", "a fact name must not be empty"},
		{"fact name too long", `["=", ["fact", "` + long + `"], 1]`, "[1][1]", "a fact name is at most 256 bytes, this one is 300"},
		{"fact default an expression", `["=", ["fact", "x", ["fact","y"]], 1]`, "[1][2]", `a fact default must be a string, number or boolean, got an expression ("fact")`},
		{"fact default null", `["=", ["fact", "x", null], 1]`, "[1][2]", "null is not allowed"},
		{"tag name a number", `["tag", 7]`, "[1]", "a tag name must be a string, got the number 7"},
		{"tag name invalid", `["tag", "a b"]`, "[1]", `invalid tag name "a b": may contain only letters, digits and "_.-+=%"`},
		{"tag name empty", `["or", ["tag", ""]]`, "[1][1]", `invalid tag name "": empty`},
		{"tag name leading dash", `["tag", "-x"]`, "[1]", `invalid tag name "-x": must start with a letter, a digit or "_"`},
		{"> with a word", `[">", ["fact","processorcount"], "two"]`, "[2]", `">" expects a number here, but "two" is not a number`},
		{">= with a boolean", `[">=", true, 1]`, "[1]", `">=" expects a number here, got true`},
		{"< with a test", `["<", ["=", 1, 1], 1]`, "[1]", `"<" expects a number here, got a test ("=")`},
		{"<= with a long word", `["<=", 1, "` + long + `"]`, "[2]", `"<=" expects a number here, but "` + long + `" is not a number`},
		{"num of a word", `[">", ["num", "lots"], 1]`, "[1][1]", `"num" expects a number here, but "lots" is not a number`},
		{"num of a test", `[">", ["num", ["tag","a"]], 1]`, "[1][1]", `"num" expects a number here, got a test ("tag")`},
		{"lower of a boolean", `["=", ["lower", false], "false"]`, "[1][1]", `"lower" expects a string or number here, got false`},
		{"upper of a test", `["=", ["upper", ["not", true]], "X"]`, "[1][1]", `"upper" expects a string or number here, got a test ("not")`},
		{"number out of range", `["=", ["fact","x"], 1e400]`, "[2]", "number 1e400 is out of range"},
		{"error in a later argument of in", `["in", ["fact","x"], "a", "b", {"c": 1}]`, "[4]", `objects are not allowed: an expression is an array ["operator", arguments...]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Parse([]byte(tc.in))
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("Parse(%s) = %v, %v; want an *Error", tc.in, r, err)
			}
			if diff := cmp.Diff(&Error{Path: tc.path, Msg: tc.msg}, perr); diff != "" {
				t.Errorf("Parse(%s) error (-want +got):\n%s", tc.in, diff)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("Parse(%s) = %v, want errors.Is(err, ErrInvalid)", tc.in, err)
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{Msg: "empty rule"}, "rules: invalid rule: empty rule"},
		{&Error{Path: "[2][1]", Msg: "null is not allowed"}, "rules: invalid rule at [2][1]: null is not allowed"},
	}
	for _, tc := range tests {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("(%#v).Error() = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestParseLimits(t *testing.T) {
	nest := func(depth int) string {
		return strings.Repeat(`["not",`, depth-1) + "true" + strings.Repeat("]", depth-1)
	}
	// nest(n) has n-1 arrays; the innermost "true" does not count as depth.
	t.Run("depth at the limit", func(t *testing.T) {
		mustParse(t, nest(MaxDepth+1))
	})
	t.Run("depth over the limit", func(t *testing.T) {
		_, err := Parse([]byte(nest(MaxDepth + 2)))
		want := &Error{Path: strings.Repeat("[1]", MaxDepth), Msg: "expressions nest more than 32 levels deep"}
		if diff := cmp.Diff(want, err); diff != "" {
			t.Errorf("Parse(depth %d) error (-want +got):\n%s", MaxDepth+1, diff)
		}
	})
	t.Run("very deep input stops early", func(t *testing.T) {
		_, err := Parse([]byte(strings.Repeat("[", MaxBytes)))
		want := &Error{Path: strings.Repeat("[0]", MaxDepth), Msg: "expressions nest more than 32 levels deep"}
		if diff := cmp.Diff(want, err); diff != "" {
			t.Errorf("Parse([[[...) error (-want +got):\n%s", diff)
		}
	})
	// ["in", ["fact","x"], v...] holds 3 + len(v) expressions: the two
	// arrays, the literal "x" and the values.
	in := func(values int) string {
		return `["in",["fact","x"]` + strings.Repeat(`,"v"`, values) + `]`
	}
	t.Run("nodes at the limit", func(t *testing.T) {
		mustParse(t, in(MaxNodes-3))
	})
	t.Run("nodes over the limit", func(t *testing.T) {
		_, err := Parse([]byte(in(MaxNodes - 2)))
		// The last value, at index 1 + (MaxNodes-2), is one too many.
		want := &Error{Path: fmt.Sprintf("[%d]", MaxNodes-1), Msg: "rule has more than 1024 expressions"}
		if diff := cmp.Diff(want, err); diff != "" {
			t.Errorf("Parse(%d values) error (-want +got):\n%s", MaxNodes-2, diff)
		}
	})
	t.Run("size over the limit", func(t *testing.T) {
		big := `["=",["fact","x"],"` + strings.Repeat("a", MaxBytes) + `"]`
		_, err := Parse([]byte(big))
		want := &Error{Msg: fmt.Sprintf("rule is %d bytes, at most 65536 are allowed", len(big))}
		if diff := cmp.Diff(want, err); diff != "" {
			t.Errorf("Parse(%d bytes) error (-want +got):\n%s", len(big), diff)
		}
	})
	t.Run("canonical form over the limit", func(t *testing.T) {
		// U+2028 is 3 bytes as input and 6 ("\u2028") in canonical form.
		head := `["=",["fact","x"],"`
		in := head + strings.Repeat("\u2028", (MaxBytes-len(head)-2)/3) + `"]`
		_, err := Parse([]byte(in))
		var perr *Error
		if !errors.As(err, &perr) || perr.Path != "" || !strings.HasSuffix(perr.Msg, " bytes in canonical form, at most 65536 are allowed") {
			t.Errorf("Parse(%d bytes of U+2028) = %v, want a canonical size error", len(in), err)
		}
	})
	t.Run("size at the limit", func(t *testing.T) {
		head := `["=",["fact","x"],"`
		big := head + strings.Repeat("a", MaxBytes-len(head)-2) + `"]`
		if len(big) != MaxBytes {
			t.Fatalf("test rule is %d bytes", len(big))
		}
		mustParse(t, big)
	})
}

func TestRefs(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{`true`, nil},
		{`["=", ["fact","x"], "y"]`, nil},
		{`["tag","b"]`, []string{"b"}},
		{`["and", ["tag","c"], ["or", ["tag","a"], ["not", ["tag","c"]]], ["=", ["str", ["tag","b"]], "true"]]`, []string{"a", "b", "c"}},
	}
	for _, tc := range tests {
		r := mustParse(t, tc.in)
		if diff := cmp.Diff(tc.want, r.Refs()); diff != "" {
			t.Errorf("Parse(%s).Refs() (-want +got):\n%s", tc.in, diff)
		}
	}
	r := mustParse(t, `["tag","a"]`)
	r.Refs()[0] = "changed"
	if got := r.Refs(); got[0] != "a" {
		t.Errorf("Refs() after changing a returned slice = %v, want [a]", got)
	}
	var nilRule *Rule
	if got := nilRule.Refs(); got != nil {
		t.Errorf("(*Rule)(nil).Refs() = %v, want nil", got)
	}
}

func TestJSONEmbedding(t *testing.T) {
	type tagDoc struct {
		Name string `json:"name"`
		Rule *Rule  `json:"rule"`
	}
	var doc tagDoc
	in := `{"name":"dell","rule":["like", ["fact","manufacturer"], "^Dell"]}`
	if err := json.Unmarshal([]byte(in), &doc); err != nil {
		t.Fatalf("json.Unmarshal(%s) = %v", in, err)
	}
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatalf("json.Marshal = %v", err)
	}
	if want := `{"name":"dell","rule":["like",["fact","manufacturer"],"^Dell"]}`; string(out) != want {
		t.Errorf("json.Marshal(%+v) = %s, want %s", doc, out, want)
	}

	bad := `{"name":"x","rule":["like", ["fact","manufacturer"], 1]}`
	err = json.Unmarshal([]byte(bad), &doc)
	var perr *Error
	if !errors.As(err, &perr) || perr.Path != "[2]" {
		t.Errorf("json.Unmarshal(%s) = %v, want an *Error at [2]", bad, err)
	}

	// A value field receives JSON null through UnmarshalJSON: refused.
	var value struct{ Rule Rule }
	if err := json.Unmarshal([]byte(`{"Rule":null}`), &value); !errors.Is(err, ErrInvalid) {
		t.Errorf("json.Unmarshal(null into Rule) = %v, want ErrInvalid", err)
	}

	var zero Rule
	if got, _ := zero.MarshalJSON(); string(got) != "null" {
		t.Errorf("Rule{}.MarshalJSON() = %s, want null", got)
	}
	if ok, err := zero.Match(map[string]string{"a": "b"}, nil); ok || err != nil {
		t.Errorf("Rule{}.Match() = %v, %v; want false, nil", ok, err)
	}

	// UnmarshalJSON leaves the rule unchanged on error.
	r := mustParse(t, `["tag","a"]`)
	if err := r.UnmarshalJSON([]byte(`["tag"]`)); err == nil {
		t.Fatal(`UnmarshalJSON(["tag"]) = nil, want an error`)
	}
	if r.String() != `["tag","a"]` {
		t.Errorf("rule after a failed UnmarshalJSON = %s, want [\"tag\",\"a\"]", r)
	}

	// MarshalJSON returns a copy.
	b, _ := r.MarshalJSON()
	b[0] = '{'
	if r.String() != `["tag","a"]` {
		t.Errorf("rule after changing MarshalJSON's result = %s", r)
	}
}
