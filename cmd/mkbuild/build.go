package main

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/razor-mk/razor-mk/builder"
	"github.com/razor-mk/razor-mk/builder/spec"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// buildFlags holds the flags of mkbuild build.
type buildFlags struct {
	out             string
	cache           string
	variant         string
	agent           string
	agentDir        string
	strict          bool
	authorizedKeys  []string
	sourceDateEpoch string
	quiet           bool
	verbose         bool
}

func newBuildCmd() *cobra.Command {
	var c buildFlags
	cmd := &cobra.Command{
		Use:   "build SPEC --out DIR",
		Short: "Build a microkernel image (vmlinuz, initrd, manifest.json) from a spec",
		Long: `build reads an image spec (images/prod.yaml, images/dev.yaml; see
the README, "Spec reference"), obtains the kernel and busybox (apt-get download into the
cache, or the .deb files the spec names), resolves the kernel modules with
their dependencies and firmware (a missing file is a note saying which
Debian package and apt component has it; --strict makes it an error),
builds mk-agent (static; with the dev tag for the dev variant) inside a
source tree, or outside one takes the prebuilt agent the package ships
(/usr/lib/razor-mk/agent; the summary says which), and writes
DIR/vmlinuz, DIR/initrd and DIR/manifest.json, and with debian.secure_boot
(the default on amd64 and arm64) the signed loaders DIR/shimx64.efi and
DIR/grubx64.efi (arm64: shimaa64.efi, grubaa64.efi). The architecture is
the spec's arch: images/prod-arm64.yaml and images/dev-arm64.yaml build
arm64 images (on another host, the arm64 busybox is run under
qemu-aarch64-static, package qemu-user-static). The same spec, inputs and
SOURCE_DATE_EPOCH give the same bytes.

Every flag can also be set with RAZOR_<FLAG> in the environment
(RAZOR_CACHE=/var/cache/razor-mk, RAZOR_OUT=out/prod).`,
		Example: `  mkbuild build images/prod.yaml --out out/prod
  mkbuild build images/prod-arm64.yaml --out out/prod-arm64
  mkbuild build images/dev.yaml --out out/dev --authorized-keys ~/.ssh/id_ed25519.pub
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) mkbuild build images/prod.yaml --out out/prod`,
		Args: cobra.ExactArgs(1),
		// Before cobra checks the required flags, which the environment
		// may give.
		PreRunE: func(cmd *cobra.Command, _ []string) error { return flagsFromEnv(cmd.Flags()) },
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBuild(cmd, args[0], c)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&c.out, "out", "o", "", "output directory for vmlinuz, initrd and manifest.json (required)")
	f.StringVar(&c.cache, "cache", "", "download and unpack cache (default ~/.cache/razor-mk)")
	f.StringVar(&c.variant, "variant", "", "dev or prod: overrides the spec's variant")
	f.StringVar(&c.agent, "agent", "", "a prebuilt static mk-agent to use instead of building one")
	f.StringVar(&c.agentDir, "agent-dir", "", "prebuilt agents (mk-agent-ARCH[-TAGS]), used outside a source tree (default ../lib/razor-mk/agent beside mkbuild: /usr/lib/razor-mk/agent)")
	f.BoolVar(&c.strict, "strict", false, "fail when a listed module's firmware is missing (default: a note saying how to add it)")
	f.StringArrayVar(&c.authorizedKeys, "authorized-keys", nil, "authorized_keys file for the dev variant (repeatable)")
	f.StringVar(&c.sourceDateEpoch, "source-date-epoch", os.Getenv("SOURCE_DATE_EPOCH"), "timestamp of every initrd entry, seconds since 1970 (default $SOURCE_DATE_EPOCH, else 0)")
	f.BoolVarP(&c.quiet, "quiet", "q", false, "no progress output")
	f.BoolVarP(&c.verbose, "verbose", "v", false, "log details to stderr")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

// flagsFromEnv sets each flag not given on the command line from
// RAZOR_<NAME> (NAME upper-cased, "-" as "_": RAZOR_CACHE, RAZOR_OUT,
// RAZOR_AUTHORIZED_KEYS) when that is set.
func flagsFromEnv(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(fl *pflag.Flag) {
		key := "RAZOR_" + strings.ToUpper(strings.ReplaceAll(fl.Name, "-", "_"))
		v, ok := os.LookupEnv(key)
		if fl.Changed || !ok || v == "" || err != nil {
			return
		}
		if e := fs.Set(fl.Name, v); e != nil {
			err = fmt.Errorf("%s=%q: %w", key, v, e)
		}
	})
	return err
}

func runBuild(cmd *cobra.Command, specPath string, c buildFlags) error {
	if c.variant != "" && c.variant != spec.VariantDev && c.variant != spec.VariantProd {
		return fmt.Errorf("--variant %q: want dev or prod", c.variant)
	}
	var sde int64
	if v := strings.TrimSpace(c.sourceDateEpoch); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || n > 1<<32-1 {
			return fmt.Errorf("--source-date-epoch / SOURCE_DATE_EPOCH %q: want seconds since 1970 (0 to 4294967295)", v)
		}
		sde = n
	}
	if c.agent != "" {
		if fi, err := os.Stat(c.agent); err != nil || !fi.Mode().IsRegular() {
			return fmt.Errorf("--agent %s: not a readable file", c.agent)
		}
	}
	s, err := spec.Load(specPath, spec.Options{Variant: c.variant, AuthorizedKeysFiles: c.authorizedKeys})
	if err != nil {
		return err
	}
	stderr := cmd.ErrOrStderr()
	logLevel := slog.LevelWarn
	if c.verbose {
		logLevel = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: logLevel}))
	var agentOrigin string
	opts := builder.Options{Spec: s, OutDir: c.out, CacheDir: c.cache, AgentPath: c.agent, AgentDir: c.agentDir,
		SourceDateEpoch: sde, Logger: log, StrictFirmware: c.strict, AgentChosen: func(o string) { agentOrigin = o }}
	var prog *builder.Progress
	if !c.quiet {
		prog = builder.NewProgress(stderr)
		opts.Progress = prog
	}
	m, err := builder.Build(cmd.Context(), opts)
	if prog != nil {
		prog.Finish()
	}
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "built %s (%s, %s base, kernel %s) in %s\n", m.Name, m.Variant, m.Base, m.KernelVersion, c.out)
	fmt.Fprintf(out, "  vmlinuz        %s  sha256 %s\n", builder.Size(m.Kernel.Size), m.Kernel.SHA256)
	fmt.Fprintf(out, "  initrd         %s  sha256 %s (%s, %s unpacked)\n", builder.Size(m.Initrd.Size), m.Initrd.SHA256, m.Compression, builder.Size(m.Sizes.InitrdUnpacked))
	fmt.Fprintf(out, "  modules        %d (%s), firmware %d, missing firmware %d\n", len(m.Modules), builder.Size(m.Sizes.ModulesUnpacked), len(m.Firmware), len(m.MissingFirmware))
	fmt.Fprintf(out, "  agent          %s\n", agentOrigin)
	fmt.Fprintf(out, "  cmdline        %s\n", m.Cmdline)
	sb, warn := builder.SecureBootSummary(m)
	if warn {
		sb = "WARNING: " + sb
	}
	fmt.Fprintf(out, "  secure boot    %s\n", sb)
	for _, l := range m.Loaders {
		fmt.Fprintf(out, "  %-14s %s  sha256 %s\n", l.Path, builder.Size(l.Size), l.SHA256)
	}
	for _, n := range m.Notes {
		fmt.Fprintf(out, "  note: %s\n", n)
	}
	return nil
}
