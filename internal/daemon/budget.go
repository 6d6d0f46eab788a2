package daemon

import (
	"log/slog"

	"github.com/razor-mk/razor-mk/netboot/netlimit"
)

// httpBudget raises the soft descriptor limit to the hard one and
// returns the HTTP connection limiter: http_max_conns (0: half the
// descriptor limit, leaving the rest to the store, TFTP transfers and
// DHCP) and http_max_conns_per_ip.
func httpBudget(cfg Config, log *slog.Logger) (*netlimit.Limiter, error) {
	nofile, err := netlimit.RaiseFileLimit()
	if err != nil {
		log.Warn("cannot read the file descriptor limit; HTTP connections capped by http_max_conns only", "err", err)
	}
	total := cfg.HTTPMaxConns
	if total == 0 && nofile > 0 {
		total = int(min(nofile/2, 1<<20))
	}
	log.Info("http: connection budget", "max_conns", total, "max_conns_per_ip", cfg.HTTPMaxConnsPerIP, "nofile", nofile)
	return netlimit.New(total, cfg.HTTPMaxConnsPerIP), nil
}
