package main

import (
	"testing"

	"github.com/razor-mk/razor-mk/agent/discover"
	"github.com/razor-mk/razor-mk/wire"
)

func TestCmdlineSkew(t *testing.T) {
	tests := []struct {
		name    string
		cmdline string
		fresh   bool
		want    int
		wantErr bool
	}{
		{name: "server's skew on a fresh boot", cmdline: "quiet razor.checkin_skew=0", fresh: true, want: 0},
		{name: "larger skew", cmdline: "razor.checkin_skew=30", fresh: true, want: 30},
		{name: "saved config wins", cmdline: "razor.checkin_skew=0", fresh: false, want: 5},
		{name: "absent", cmdline: "quiet", fresh: true, want: 5},
		{name: "not a number", cmdline: "razor.checkin_skew=soon", fresh: true, want: 5, wantErr: true},
		{name: "negative", cmdline: "razor.checkin_skew=-1", fresh: true, want: 5, wantErr: true},
		{name: "too large", cmdline: "razor.checkin_skew=99999", fresh: true, want: 5, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := wire.DefaultClientConfig()
			err := cmdlineSkew(&cfg, discover.ParseCmdline(tt.cmdline), tt.fresh)
			if (err != nil) != tt.wantErr || cfg.CheckinSkew != tt.want {
				t.Errorf("cmdlineSkew(%q, fresh=%v) = skew %d, err %v; want %d, error %v", tt.cmdline, tt.fresh, cfg.CheckinSkew, err, tt.want, tt.wantErr)
			}
		})
	}
}
