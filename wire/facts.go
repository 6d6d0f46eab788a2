package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// MaxFactDepth bounds how deeply a structured fact may nest.
const MaxFactDepth = 16

// Structured facts. Facter 2 and later (Hanlon's microkernel pins Facter
// 2.4; Facter 4 does the same) report some facts as JSON objects and
// arrays: os, processors, networking, disks… The server keeps facts as a
// flat map of strings, and stores a structured fact twice:
//
//   - under its own name, as compact JSON with sorted keys
//     (os = {"family":"Debian","release":{"major":"12"}}), so nothing is
//     lost and a rule can match the whole value;
//   - each leaf (string, number, boolean, null) under its dotted path,
//     array elements by index: os.family = Debian,
//     os.release.major = 12, processors.models.0 = "QEMU Virtual CPU".
//
// A fact the request names explicitly (a flat "os.family" key) wins over
// a flattened leaf of the same name. Leaves follow the scalar rules:
// booleans and numbers become their JSON text, null the empty string.

// parseFacts decodes a fact map: scalars become strings, structured
// values are stored as JSON and flattened (see above).
func parseFacts(data json.RawMessage) (map[string]string, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, bad("attributes_hash", "not a JSON object")
	}
	if len(m) > MaxFacts {
		return nil, bad("attributes_hash", "%d facts, at most %d", len(m), MaxFacts)
	}
	facts := make(map[string]string, len(m))
	var leaves map[string]string
	for k, v := range m {
		if k == "" || len(k) > MaxFactNameLen {
			return nil, bad("attributes_hash", "fact name %q: empty or longer than %d bytes", truncate(k, 40), MaxFactNameLen)
		}
		v = bytes.TrimSpace(v)
		if len(v) > 0 && (v[0] == '{' || v[0] == '[') {
			if leaves == nil {
				leaves = map[string]string{}
			}
			js, err := flattenFact(k, v, leaves)
			if err != nil {
				return nil, err
			}
			facts[k] = js
			continue
		}
		s, err := factValue(v)
		if err != nil {
			return nil, bad("attributes_hash."+k, "%v", err)
		}
		if len(s) > MaxFactValLen {
			return nil, bad("attributes_hash."+k, "value longer than %d bytes", MaxFactValLen)
		}
		facts[k] = s
	}
	for k, v := range leaves {
		if _, ok := facts[k]; !ok {
			facts[k] = v
		}
	}
	if len(facts) > MaxFacts {
		return nil, bad("attributes_hash", "%d facts once structured facts are flattened, at most %d", len(facts), MaxFacts)
	}
	return facts, nil
}

// flattenFact adds the leaves of the structured fact name (raw JSON v) to
// leaves and returns the value's compact JSON with sorted keys.
func flattenFact(name string, v json.RawMessage, leaves map[string]string) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	var val any
	if err := dec.Decode(&val); err != nil {
		return "", bad("attributes_hash."+name, "%v", err)
	}
	if err := flatten(name, val, 1, leaves); err != nil {
		return "", err
	}
	if len(leaves) > MaxFacts {
		return "", bad("attributes_hash", "more than %d facts once structured facts are flattened", MaxFacts)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(val); err != nil {
		return "", bad("attributes_hash."+name, "%v", err)
	}
	js := strings.TrimSuffix(buf.String(), "\n")
	if len(js) > MaxFactValLen {
		return "", bad("attributes_hash."+name, "value longer than %d bytes", MaxFactValLen)
	}
	return js, nil
}

func flatten(path string, v any, depth int, leaves map[string]string) error {
	if depth > MaxFactDepth {
		return bad("attributes_hash."+truncate(path, 80), "nested deeper than %d levels", MaxFactDepth)
	}
	if len(leaves) > MaxFacts {
		return nil // reported by the caller
	}
	child := func(k string) (string, error) {
		if k == "" {
			return "", bad("attributes_hash."+truncate(path, 80), "empty key")
		}
		p := path + "." + k
		if len(p) > MaxFactNameLen {
			return "", bad("attributes_hash."+truncate(p, 80), "flattened fact name longer than %d bytes", MaxFactNameLen)
		}
		return p, nil
	}
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			p, err := child(k)
			if err != nil {
				return err
			}
			if err := flatten(p, e, depth+1, leaves); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range x {
			p, err := child(strconv.Itoa(i))
			if err != nil {
				return err
			}
			if err := flatten(p, e, depth+1, leaves); err != nil {
				return err
			}
		}
	case string:
		if len(x) > MaxFactValLen {
			return bad("attributes_hash."+truncate(path, 80), "value longer than %d bytes", MaxFactValLen)
		}
		leaves[path] = x
	case json.Number:
		leaves[path] = x.String()
	case bool:
		leaves[path] = strconv.FormatBool(x)
	case nil:
		leaves[path] = ""
	default:
		return bad("attributes_hash."+truncate(path, 80), "unexpected JSON value %T", v)
	}
	return nil
}

// factValue converts a scalar JSON value to its fact text.
func factValue(v json.RawMessage) (string, error) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "", fmt.Errorf("empty value")
	}
	switch v[0] {
	case '"':
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", err
		}
		return s, nil
	case 't', 'f':
		var b bool
		if err := json.Unmarshal(v, &b); err != nil {
			return "", err
		}
		return strconv.FormatBool(b), nil
	case 'n':
		return "", nil
	default:
		var n json.Number
		if err := json.Unmarshal(v, &n); err != nil {
			return "", err
		}
		return n.String(), nil
	}
}
