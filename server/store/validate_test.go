package store

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/razor-mk/razor-mk/netboot/dhcp/leases"
)

func TestValidate(t *testing.T) {
	ip := netip.MustParseAddr("192.0.2.10")
	for _, tc := range []struct {
		name string
		err  error
		want string // "" is valid, else a part of the error
	}{
		{"tag ok", Tag{Name: "t", Rule: json.RawMessage(`["=",1,1]`)}.Validate(), ""},
		{"tag no name", Tag{Rule: json.RawMessage(`true`)}.Validate(), "without a name"},
		{"tag bad rule", Tag{Name: "t", Rule: json.RawMessage(`[`)}.Validate(), "rule is not JSON"},
		{"policy ok", Policy{Name: "p"}.Validate(), ""},
		{"policy no name", Policy{}.Validate(), "without a name"},
		{"lease ok", ValidateLease(leases.Lease{MAC: "52:54:00:00:00:01", IP: ip}), ""},
		{"lease no MAC", ValidateLease(leases.Lease{IP: ip}), "needs a MAC"},
		{"lease no IP", ValidateLease(leases.Lease{MAC: "52:54:00:00:00:01"}), "needs a MAC and an address"},
	} {
		switch {
		case tc.want == "" && tc.err != nil:
			t.Errorf("%s: error %v, want none", tc.name, tc.err)
		case tc.want != "" && (tc.err == nil || !strings.Contains(tc.err.Error(), tc.want)):
			t.Errorf("%s: error %v, want one containing %q", tc.name, tc.err, tc.want)
		}
	}
}
