package store

import "testing"

func TestNodeSeq(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want int64
		ok   bool
	}{
		{"node1", 1, true}, {"node42", 42, true}, {"node0", 0, false}, {"node01", 0, false},
		{"node", 0, false}, {"node-1", 0, false}, {"node+1", 0, false}, {"x1", 0, false}, {"", 0, false},
		{"node99999999999999999999", 0, false},
	} {
		got, ok := NodeSeq(tc.id)
		if got != tc.want || ok != tc.ok {
			t.Errorf("NodeSeq(%q) = %d, %v; want %d, %v", tc.id, got, ok, tc.want, tc.ok)
		}
	}
}

// NodeSeq accepts exactly the ids NodeID makes.
func FuzzNodeSeq(f *testing.F) {
	for _, s := range []string{"node1", "node42", "node0", "node01", "node", "node-1", "node+1", "x1", "", "node9223372036854775807", "node9223372036854775808"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		seq, ok := NodeSeq(id)
		if ok != (seq > 0) {
			t.Errorf("NodeSeq(%q) = %d, %v", id, seq, ok)
		}
		if ok && NodeID(seq) != id {
			t.Errorf("NodeSeq(%q) = %d, but NodeID(%d) = %q", id, seq, seq, NodeID(seq))
		}
	})
}
