package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/razor-mk/razor-mk/server/adminapi"
	"github.com/razor-mk/razor-mk/server/power"
	"github.com/spf13/cobra"
)

// newPowerCmds are the nodes power-on, power-off, power-cycle and
// power-status subcommands: IPMI over LAN from the server.
func newPowerCmds(f *adminFlags) []*cobra.Command {
	var out []*cobra.Command
	for _, a := range []struct{ action, short string }{
		{"on", "Switch a node on through its BMC"},
		{"off", "Switch a node off through its BMC (hard power-down)"},
		{"cycle", "Power-cycle a node through its BMC (switches it on when it is off)"},
		{"status", "Ask a node's BMC whether the node is on"},
	} {
		action := a.action
		out = append(out, &cobra.Command{
			Use:   "power-" + action + " ID",
			Short: a.short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := f.client()
				if err != nil {
					return err
				}
				r, err := c.Power(cmd.Context(), args[0], action)
				if err != nil {
					return err
				}
				if f.structured() {
					return f.print(cmd.OutOrStdout(), r)
				}
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s: power %s (%s, via %s)\n", r.Node, r.State, r.Credential, r.BMC)
				return err
			},
		})
	}
	return out
}

// newBindCmd is nodes bind.
func newBindCmd(f *adminFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "bind ID POLICY",
		Short: "Bind a node to a policy; a node not in the microkernel is power-cycled when the policy's target has power_cycle",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			r, err := c.BindNode(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			if f.structured() {
				return f.print(cmd.OutOrStdout(), r)
			}
			w := cmd.OutOrStdout()
			if _, err := fmt.Fprintf(w, "bound %s to %s\n", r.Node.ID, r.Node.Policy); err != nil {
				return err
			}
			switch {
			case r.Power != nil:
				_, err = fmt.Fprintf(w, "power-cycled %s via %s (%s)\n", r.Node.ID, r.Power.BMC, r.Power.Credential)
			case r.PowerError != "":
				// The binding stands; the operator must boot the node.
				return fmt.Errorf("bound, but the power cycle failed: %s", r.PowerError)
			}
			return err
		},
	}
}

// bmcFlags are what bmc set takes.
type bmcFlags struct {
	address, username, passwordFile string
}

func newBMCCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bmc",
		Short: "Manage BMC credentials for out-of-band power (IPMI over LAN); role admin",
		Long: `Manage the BMC credentials razor-netboot uses for power-on, power-off,
power-cycle and power-status. A credential belongs to a scope:

  global            every node without a more specific one
  policy:NAME       the nodes bound to a policy
  node:ID           one node (ID may be a MAC, the SMBIOS UUID or the serial)

A node uses its own credential, else its policy's, else the global one.
A credential without --address reaches the BMC at the node's bmc_ipaddress
fact (reported by the microkernel). Passwords are stored encrypted and are
never shown; give them with --password-file FILE, --password-file - (stdin)
or RAZOR_BMC_PASSWORD, not on the command line.`,
	}
	f := addAdminFlags(cmd)
	list := &cobra.Command{
		Use:   "list",
		Short: "List the BMC credentials (without passwords)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			bs, err := c.BMCs(cmd.Context())
			if err != nil {
				return err
			}
			if f.structured() {
				return f.print(cmd.OutOrStdout(), bs)
			}
			return bmcTable(cmd.OutOrStdout(), bs)
		},
	}
	show := &cobra.Command{
		Use:   "show SCOPE",
		Short: "Show one BMC credential (without its password)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			b, err := c.BMC(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if f.structured() {
				return f.print(cmd.OutOrStdout(), b)
			}
			return bmcTable(cmd.OutOrStdout(), []adminapi.BMCCredential{b})
		},
	}
	var sf bmcFlags
	set := &cobra.Command{
		Use:   "set SCOPE --username USER [--address HOST[:PORT]] [--password-file FILE|-]",
		Short: "Create or replace a BMC credential",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := sf.request(cmd)
			if err != nil {
				return err
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			b, err := c.SetBMC(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			if f.structured() {
				return f.print(cmd.OutOrStdout(), b)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "set BMC credential %s (user %s, password set)\n", b.Scope, b.Username)
			return err
		},
	}
	sfs := set.Flags()
	sfs.StringVar(&sf.address, "address", "", "BMC address HOST or HOST:PORT (default: the node's bmc_ipaddress fact, port 623)")
	sfs.StringVar(&sf.username, "username", "", "BMC user name (IPMI: at most 16 bytes)")
	sfs.StringVar(&sf.passwordFile, "password-file", "", "read the password from FILE, or from stdin with - (default: env RAZOR_BMC_PASSWORD)")
	del := &cobra.Command{
		Use:   "delete SCOPE",
		Short: "Delete a BMC credential",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			if err := c.DeleteBMC(cmd.Context(), args[0]); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "deleted BMC credential %s\n", args[0])
			return err
		},
	}
	cmd.AddCommand(list, show, set, del)
	return cmd
}

// request checks bmc set's flags and reads the password; errors name
// the flag.
func (sf *bmcFlags) request(cmd *cobra.Command) (adminapi.BMCRequest, error) {
	var r adminapi.BMCRequest
	if sf.username == "" {
		return r, errors.New("--username is required")
	}
	r.Username = sf.username
	if sf.address != "" {
		host, port, err := power.ParseAddress(sf.address)
		if err != nil {
			return r, fmt.Errorf("--address: %w", err)
		}
		r.Host, r.Port = host, port
	}
	var pw string
	switch sf.passwordFile {
	case "":
		pw = os.Getenv("RAZOR_BMC_PASSWORD")
		if pw == "" {
			return r, errors.New("no password: give --password-file FILE, --password-file - (stdin) or RAZOR_BMC_PASSWORD")
		}
	case "-":
		line, err := bufio.NewReader(io.LimitReader(cmd.InOrStdin(), 1024)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return r, fmt.Errorf("--password-file -: %w", err)
		}
		pw = strings.TrimRight(line, "\r\n")
	default:
		b, err := os.ReadFile(sf.passwordFile)
		if err != nil {
			return r, fmt.Errorf("--password-file: %w", err)
		}
		pw = strings.TrimRight(string(b), "\r\n")
	}
	if pw == "" {
		return r, errors.New("--password-file: the password is empty")
	}
	r.Password = pw
	return r, nil
}

func bmcTable(w io.Writer, bs []adminapi.BMCCredential) error {
	rows := make([][]string, len(bs))
	for i, b := range bs {
		addr := "fact bmc_ipaddress"
		if b.Host != "" {
			addr = b.Host
		}
		if b.Port != 0 {
			addr += ":" + strconv.Itoa(b.Port)
		}
		updated := "-"
		if b.Updated != nil {
			updated = b.Updated.Format(time.RFC3339)
		}
		pw := "not set"
		if b.PasswordSet {
			pw = "set"
		}
		rows[i] = []string{b.Scope, addr, b.Username, pw, updated}
	}
	return table(w, []string{"SCOPE", "ADDRESS", "USERNAME", "PASSWORD", "UPDATED"}, rows)
}
