package main

import (
	"context"
	"log/slog"
	"maps"
	"os"
	"sync"
	"time"

	"github.com/razor-mk/razor-mk/agent/facts"
	"github.com/razor-mk/razor-mk/agent/tce"
	"github.com/razor-mk/razor-mk/wire"
)

// extensionWait is how long the controller's start waits for the
// extensions, so that the first registration reports their outcome.
const extensionWait = 60 * time.Second

// extensions runs the microkernel's extension duties (agent/tce.Boot):
// the built-in extensions of /tmp/builtin/onboot.lst and, on VMware, the
// mirror-only ones and their modules. It waits up to extensionWait, then
// lets them finish in the background. It returns the facts the outcome
// adds (mk_ext_failed), empty until it is done; the controller
// re-registers when they change. Images without an extension layout (no
// onboot.lst, no mirror directory) skip it.
func extensions(ctx context.Context, cfg wire.ClientConfig, mirrorDir string, factOpts facts.Options, log *slog.Logger) func() map[string]string {
	var mu sync.Mutex
	var result map[string]string
	get := func() map[string]string {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(result)
	}
	if !exists(tce.DefaultOnboot) && !exists(mirrorDir) {
		return get
	}
	log = log.With("component", "extensions")
	done := make(chan struct{})
	go func() {
		defer close(done)
		rep := tce.Boot(ctx, tce.BootOptions{
			Installer:          &tce.Installer{Logger: log, Output: os.Stdout},
			MirrorDir:          mirrorDir,
			MirrorURI:          cfg.TCEMirrorURI,
			TCEInstallListURI:  cfg.TCEInstallListURI,
			KmodInstallListURI: cfg.KmodInstallListURI,
			Facts: func(ctx context.Context) map[string]string {
				return facts.Gather(ctx, factOpts).Facts
			},
			Logger: log,
		})
		f := rep.Facts()
		log.Info("extensions done", "builtin", len(rep.Builtin.Installed), "present", len(rep.Builtin.Present),
			"vmware", rep.VMware, "mirror", len(rep.Mirror.Installed), "modules", len(rep.Modules), "failed", f[tce.FactFailed])
		mu.Lock()
		result = f
		mu.Unlock()
	}()
	select {
	case <-done:
	case <-ctx.Done():
	case <-time.After(extensionWait):
		log.Warn("extensions still installing; starting the controller, their facts follow", "waited", extensionWait)
	}
	return get
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
