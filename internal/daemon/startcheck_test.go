package daemon

import (
	"strings"
	"testing"
)

// TestShimNeedsTFTP: the signed chain goes over TFTP, so asking for it
// with TFTP off stops start-up with the reason; auto and ipxe do not.
func TestShimNeedsTFTP(t *testing.T) {
	for _, tt := range []struct {
		loader string
		bad    bool
	}{{"shim", true}, {"auto", false}, {"ipxe", false}, {"", false}} {
		err := checkNetConfig(Config{DHCP: "proxy", TFTP: "off", UEFILoader: tt.loader})
		if (err != nil) != tt.bad || (tt.bad && !strings.Contains(err.Error(), "uefi_loader shim needs TFTP")) {
			t.Errorf("uefi_loader %q with tftp off: %v", tt.loader, err)
		}
	}
}
