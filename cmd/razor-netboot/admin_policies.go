package main

import (
	"fmt"
	"strconv"

	"github.com/razor-mk/razor-mk/server/adminapi"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// policyFlags are the settings create and update take.
type policyFlags struct {
	order           int
	tags            []string
	maxCount        int
	disabled        bool
	kernel, initrd  string
	cmdline, script string
	local           string
	poweroff, once  bool
	loaders         []string
	powerCycle      bool
	// allowUnknownTags saves the policy even if a tag does not exist.
	allowUnknownTags bool
}

func addPolicyFlags(fs *pflag.FlagSet) *policyFlags {
	p := &policyFlags{}
	fs.IntVar(&p.order, "order", 0, "rank: lower binds first")
	fs.StringSliceVar(&p.tags, "tags", nil, "tags a node must all have (stored or system tags), comma-separated")
	fs.IntVar(&p.maxCount, "max-count", 0, "most nodes bound at once, 0 for unlimited")
	fs.BoolVar(&p.disabled, "disabled", false, "create or leave the policy disabled")
	fs.StringVar(&p.kernel, "kernel", "", "target: kernel URL template (kind kernel)")
	fs.StringVar(&p.initrd, "initrd", "", "target: initrd URL template")
	fs.StringVar(&p.cmdline, "cmdline", "", "target: kernel command line template")
	fs.StringVar(&p.script, "script", "", "target: iPXE script template (kind ipxe); @FILE or - to read it")
	fs.StringVar(&p.local, "local", "", "target: boot the local disk: exit or sanboot (kind local)")
	fs.BoolVar(&p.poweroff, "poweroff", false, "target: power the node off (kind poweroff)")
	fs.BoolVar(&p.once, "once", false, "serve a kernel or ipxe target on the first boot after binding only")
	fs.StringSliceVar(&p.loaders, "loaders", nil, "target: boot loaders it may run under (ipxe, grub), comma-separated; default every loader its kind can")
	fs.BoolVar(&p.powerCycle, "power-cycle", false, "when an admin binds a node that is not in the microkernel (nodes bind), power-cycle it through its BMC")
	fs.BoolVar(&p.allowUnknownTags, "allow-unknown-tags", false, "save the policy even if a tag in --tags does not exist (yet)")
	return p
}

// target builds the target from the flags; changed reports whether any
// target flag was given.
func (p *policyFlags) target(cmd *cobra.Command) (adminapi.Target, bool, error) {
	fs := cmd.Flags()
	kinds := 0
	t := adminapi.Target{Once: p.once, Loaders: p.loaders, PowerCycle: p.powerCycle}
	if fs.Changed("kernel") || fs.Changed("initrd") || fs.Changed("cmdline") {
		kinds++
		t.Kind, t.Kernel, t.Initrd, t.Cmdline = "kernel", p.kernel, p.initrd, p.cmdline
	}
	if fs.Changed("script") {
		kinds++
		b, err := readArg(cmd, p.script)
		if err != nil {
			return t, false, fmt.Errorf("--script: %w", err)
		}
		t.Kind, t.Script = "ipxe", string(b)
	}
	if fs.Changed("local") {
		kinds++
		t.Kind, t.Local = "local", p.local
	}
	if p.poweroff {
		kinds++
		t.Kind = "poweroff"
	}
	if kinds > 1 {
		return t, false, fmt.Errorf("give one target: --kernel/--initrd/--cmdline, --script, --local or --poweroff")
	}
	return t, kinds == 1 || fs.Changed("once") || fs.Changed("loaders") || fs.Changed("power-cycle"), nil
}

func newPoliciesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policies",
		Short: "Manage policies: which tagged nodes boot which target",
	}
	f := addAdminFlags(cmd)
	cmd.AddCommand(newPolicyListCmd(f), newPolicyShowCmd(f), newPolicyCreateCmd(f), newPolicyUpdateCmd(f),
		newPolicyEnableCmd(f, true), newPolicyEnableCmd(f, false), newPolicyDeleteCmd(f), newPolicyPreviewCmd(f))
	return cmd
}

// printPolicy prints one policy as -o asks (a one-row table by default).
func printPolicy(cmd *cobra.Command, f *adminFlags, p adminapi.Policy) error {
	if f.structured() {
		return f.print(cmd.OutOrStdout(), p)
	}
	return policyTable(cmd, []adminapi.Policy{p})
}

func newPolicyListCmd(f *adminFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the policies in binding order",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			ps, err := c.Policies(cmd.Context())
			if err != nil {
				return err
			}
			if f.structured() {
				return f.print(cmd.OutOrStdout(), ps)
			}
			return policyTable(cmd, ps)
		},
	}
}

func newPolicyShowCmd(f *adminFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Show a policy",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			p, err := c.Policy(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return printPolicy(cmd, f, p)
		},
	}
}

func newPolicyCreateCmd(f *adminFlags) *cobra.Command {
	create := &cobra.Command{
		Use:   "create NAME (--kernel URL [--initrd URL] [--cmdline T] | --script S | --local exit|sanboot | --poweroff)",
		Short: "Create a policy",
		Args:  cobra.ExactArgs(1),
	}
	cf := addPolicyFlags(create.Flags())
	create.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := f.client()
		if err != nil {
			return err
		}
		t, ok, err := cf.target(cmd)
		if err != nil {
			return err
		}
		if !ok || t.Kind == "" {
			return fmt.Errorf("a target is required: --kernel, --script, --local or --poweroff")
		}
		en := !cf.disabled
		p, err := c.CreatePolicy(cmd.Context(), adminapi.Policy{
			Name: args[0], Order: cf.order, Enabled: &en, Tags: cf.tags, MaxCount: cf.maxCount, Target: t,
		}, adminapi.PolicyOptions{AllowUnknownTags: cf.allowUnknownTags})
		if err != nil {
			return err
		}
		return printPolicy(cmd, f, p)
	}
	return create
}

func newPolicyUpdateCmd(f *adminFlags) *cobra.Command {
	update := &cobra.Command{
		Use:   "update NAME [flags]",
		Short: "Change the given settings of a policy",
		Args:  cobra.ExactArgs(1),
	}
	uf := addPolicyFlags(update.Flags())
	update.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := f.client()
		if err != nil {
			return err
		}
		p, err := c.Policy(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		fs := cmd.Flags()
		if fs.Changed("order") {
			p.Order = uf.order
		}
		if fs.Changed("tags") {
			p.Tags = uf.tags
		}
		if fs.Changed("max-count") {
			p.MaxCount = uf.maxCount
		}
		if fs.Changed("disabled") {
			en := !uf.disabled
			p.Enabled = &en
		}
		t, ok, err := uf.target(cmd)
		if err != nil {
			return err
		}
		if ok {
			if t.Kind == "" {
				kept := p.Target
				if fs.Changed("once") {
					kept.Once = uf.once
				}
				if fs.Changed("loaders") {
					kept.Loaders = uf.loaders
				}
				if fs.Changed("power-cycle") {
					kept.PowerCycle = uf.powerCycle
				}
				t = kept
			}
			p.Target = t
		}
		if p, err = c.UpdatePolicy(cmd.Context(), p, adminapi.PolicyOptions{AllowUnknownTags: uf.allowUnknownTags}); err != nil {
			return err
		}
		return printPolicy(cmd, f, p)
	}
	return update
}

func newPolicyEnableCmd(f *adminFlags, on bool) *cobra.Command {
	use, short := "disable NAME", "Stop binding nodes to a policy"
	if on {
		use, short = "enable NAME", "Bind nodes to a policy again"
	}
	return &cobra.Command{
		Use: use, Short: short, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			p, err := c.Policy(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			p.Enabled = &on
			if p, err = c.UpdatePolicy(cmd.Context(), p); err != nil {
				return err
			}
			return printPolicy(cmd, f, p)
		},
	}
}

func newPolicyDeleteCmd(f *adminFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a policy without bound nodes",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			if err := c.DeletePolicy(cmd.Context(), args[0]); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "deleted policy %s\n", args[0])
			return err
		},
	}
}

func policyTable(cmd *cobra.Command, ps []adminapi.Policy) error {
	rows := make([][]string, len(ps))
	for i, p := range ps {
		max := "unlimited"
		if p.MaxCount > 0 {
			max = strconv.Itoa(p.MaxCount)
		}
		target := p.Target.Kind
		switch p.Target.Kind {
		case "kernel":
			target += " " + p.Target.Kernel
		case "local":
			target += " " + dash(p.Target.Local)
		}
		rows[i] = []string{p.Name, strconv.Itoa(p.Order), strconv.FormatBool(p.IsEnabled()), joinOrDash(p.Tags),
			strconv.Itoa(p.Bound) + "/" + max, target}
	}
	return table(cmd.OutOrStdout(), []string{"NAME", "ORDER", "ENABLED", "TAGS", "BOUND", "TARGET"}, rows)
}
