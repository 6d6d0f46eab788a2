package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const qemuTree = "../../testdata/facts/qemu"

func TestFactsCmd(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"facts", "--root", qemuTree}, &out, &errOut); err != nil {
		t.Fatalf("mk-agent facts --root: %v (stderr %q)", err, errOut.String())
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	for _, want := range []string{"hw_id: 525400123401_525400123402", "manufacturer: QEMU", "virtual: kvm"} {
		if !strings.Contains(out.String(), want+"\n") {
			t.Errorf("mk-agent facts output lacks %q", want)
		}
	}
	for i := 1; i < len(lines); i++ {
		prev, _, _ := strings.Cut(lines[i-1], ": ")
		cur, _, _ := strings.Cut(lines[i], ": ")
		if prev >= cur {
			t.Errorf("mk-agent facts output not sorted by name: %q before %q", lines[i-1], lines[i])
		}
	}
	if errOut.Len() != 0 {
		t.Errorf("mk-agent facts stderr = %q, want empty", errOut.String())
	}

	out.Reset()
	if err := run(context.Background(), []string{"facts", "--root", qemuTree, "--json"}, &out, &errOut); err != nil {
		t.Fatalf("mk-agent facts --json: %v", err)
	}
	var m map[string]string
	if err := json.Unmarshal(out.Bytes(), &m); err != nil {
		t.Fatalf("mk-agent facts --json output is not a JSON object of strings: %v", err)
	}
	if m["serialnumber"] != "QEMU-NODE-0001" || len(m) != len(lines) {
		t.Errorf("mk-agent facts --json = %d facts (serialnumber %q), want %d and QEMU-NODE-0001", len(m), m["serialnumber"], len(lines))
	}
}

func TestFactsCmdErrorsOnStderr(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "proc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "proc/meminfo"), []byte("MemTotal: 2048 kB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"facts", "--root", root}, &out, &errOut); err != nil {
		t.Fatalf("mk-agent facts on a partial tree: %v", err)
	}
	if !strings.Contains(out.String(), "memorysize: 2.00 MB\n") {
		t.Errorf("mk-agent facts output = %q, want memorysize from the readable source", out.String())
	}
	if !strings.Contains(errOut.String(), "facts: cpu: read /proc/cpuinfo") {
		t.Errorf("mk-agent facts stderr = %q, want the failing cpu source named", errOut.String())
	}
}

func TestFactsCmdCapture(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cap")
	var out1, out2, errOut bytes.Buffer
	if err := run(context.Background(), []string{"facts", "--root", qemuTree, "--capture", dir}, &out1, &errOut); err != nil {
		t.Fatalf("mk-agent facts --capture: %v", err)
	}
	if err := run(context.Background(), []string{"facts", "--root", dir}, &out2, &errOut); err != nil {
		t.Fatalf("mk-agent facts --root capture: %v", err)
	}
	if out1.String() != out2.String() {
		t.Errorf("facts of the capture differ from the facts captured:\n%s\nvs\n%s", out1.String(), out2.String())
	}
	if err := run(context.Background(), []string{"facts", "extra"}, &out1, &errOut); err == nil {
		t.Errorf("mk-agent facts extra = nil error, want an argument error")
	}
}
