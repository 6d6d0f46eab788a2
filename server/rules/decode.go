package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
)

// rawKind is the JSON type of a decoded value.
type rawKind uint8

const (
	rawNull rawKind = iota
	rawBool
	rawNumber
	rawString
	rawArray
)

// raw is one decoded JSON value, before its meaning is checked.
type raw struct {
	kind  rawKind
	b     bool
	num   string // the number's JSON text
	s     string
	elems []*raw
}

// decoder reads a rule's JSON token by token, so that depth and size
// limits stop a hostile document early and every error has a path.
type decoder struct {
	dec   *json.Decoder
	nodes int
	path  []int
}

// decode turns data into a raw tree, enforcing MaxDepth and MaxNodes and
// rejecting objects, bad JSON and trailing data.
func decode(data []byte) (*raw, error) {
	d := &decoder{dec: json.NewDecoder(bytes.NewReader(data))}
	d.dec.UseNumber()
	tok, err := d.dec.Token()
	if errors.Is(err, io.EOF) {
		return nil, &Error{Msg: "empty rule"}
	}
	if err != nil {
		return nil, d.syntax(err)
	}
	d.nodes = 1
	r, err := d.value(tok, 0)
	if err != nil {
		return nil, err
	}
	if _, err := d.dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &Error{Msg: "unexpected data after the rule"}
	}
	return r, nil
}

// syntax wraps a JSON decoding error at the current path.
func (d *decoder) syntax(err error) *Error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errAt(d.path, "invalid JSON: unexpected end of input")
	}
	return errAt(d.path, "invalid JSON: "+err.Error())
}

// value converts the token just read, and for an array everything up to
// its closing bracket. depth is the number of arrays enclosing it.
func (d *decoder) value(tok json.Token, depth int) (*raw, error) {
	switch t := tok.(type) {
	case nil:
		return &raw{kind: rawNull}, nil
	case bool:
		return &raw{kind: rawBool, b: t}, nil
	case json.Number:
		return &raw{kind: rawNumber, num: string(t)}, nil
	case string:
		return &raw{kind: rawString, s: t}, nil
	case json.Delim:
		if t != '[' {
			// '{' is the only other delimiter Token can return here;
			// objects have no meaning in the language.
			return nil, errAt(d.path, `objects are not allowed: an expression is an array ["operator", arguments...]`)
		}
		if depth+1 > MaxDepth {
			return nil, errAt(d.path, "expressions nest more than "+strconv.Itoa(MaxDepth)+" levels deep")
		}
		r := &raw{kind: rawArray}
		for i := 0; ; i++ {
			d.path = append(d.path, i)
			tok, err := d.dec.Token()
			if err != nil {
				return nil, d.syntax(err)
			}
			if t, ok := tok.(json.Delim); ok && t == ']' {
				d.path = d.path[:len(d.path)-1]
				return r, nil
			}
			if _, op := tok.(string); !(op && i == 0) {
				d.nodes++
				if d.nodes > MaxNodes {
					return nil, errAt(d.path, "rule has more than "+strconv.Itoa(MaxNodes)+" expressions")
				}
			}
			e, err := d.value(tok, depth+1)
			if err != nil {
				return nil, err
			}
			r.elems = append(r.elems, e)
			d.path = d.path[:len(d.path)-1]
		}
	default:
		return nil, errAt(d.path, "invalid JSON")
	}
}
