package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/razor-mk/razor-mk/server/mkimage"
)

func TestWriteImageVerifies(t *testing.T) {
	dir := t.TempDir()
	if err := writeImage(dir+"/storm", 1<<10, 3<<10); err != nil {
		t.Fatal(err)
	}
	img, err := mkimage.New(dir, nil).Current()
	if err != nil {
		t.Fatal(err)
	}
	if img.Name != "storm" || img.Manifest.Kernel.Size != 1<<10 || img.Manifest.Initrd.Size != 3<<10 {
		t.Errorf("image %+v", img)
	}
}

func TestParseScript(t *testing.T) {
	s := "#!ipxe\necho Razor: booting\nkernel http://10.0.0.1:8026/images/mk/vmlinuz quiet razor.token=abc razor.server=http://10.0.0.1:8026 || goto error\ninitrd http://10.0.0.1:8026/images/mk/initrd || goto error\nboot\n"
	k, i, c := parseScript(s)
	if k != "http://10.0.0.1:8026/images/mk/vmlinuz" || i != "http://10.0.0.1:8026/images/mk/initrd" {
		t.Errorf("kernel %q initrd %q", k, i)
	}
	if kernelArg(c, "razor.token") != "abc" || kernelArg(c, "razor.server") != "http://10.0.0.1:8026" || kernelArg(c, "none") != "" {
		t.Errorf("cmdline %q", c)
	}
}

func TestSummary(t *testing.T) {
	rs := make([]nodeResult, 100)
	for i := range rs {
		for p := range nPhases {
			rs[i].ends[p] = time.Duration(i+1) * time.Duration(p+1) * time.Millisecond
		}
	}
	rs[7].err = errors.New("kernel dhcp: storm: dhcp DISCOVER: no OFFER after 5 tries (10.93.1.7, 02:52:4d:00:00:07)")
	rs[8].err = errors.New("kernel dhcp: storm: dhcp DISCOVER: no OFFER after 5 tries (10.93.1.8, 02:52:4d:00:00:08)")
	r := summarise(rs)
	if r.Registered != 98 || len(r.Errors) != 1 {
		t.Fatalf("registered %d, errors %v", r.Registered, r.Errors)
	}
	unit := time.Duration(phRegister+1) * time.Millisecond // node i registers at (i+1)*unit
	if got := percentile(r.Total, 100); got != 100*unit {
		t.Errorf("max %v", got)
	}
	if got := percentile(r.Total, 50); got != 51*unit { // 49th of 98: node 51
		t.Errorf("p50 %v", got)
	}
	r.DHCPRetries, r.TFTPRetries = 3, 4
	row := r.Row("x")
	want := fmt.Sprintf("| x | 98/100 | %s | %s | %s |", secs(51*unit), secs(100*unit), secs(100*unit))
	if !strings.HasPrefix(row, want) || !strings.Contains(row, "| 3/4 | 2× kernel dhcp") {
		t.Errorf("row %q", row)
	}
	if strings.Count(strings.Split(Header(), "\n")[0], "|") != strings.Count(row, "|") {
		t.Errorf("header and row differ in columns:\n%s\n%s", Header(), row)
	}
	if percentile(nil, 50) != 0 {
		t.Error("percentile of none")
	}
}
