package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/razor-mk/razor-mk/server/adminapi"
)

// Config is the declarative configuration export writes and apply reads:
// tags and policies, without server-side fields (counts, times).
type Config struct {
	Tags     []ConfigTag    `yaml:"tags"`
	Policies []ConfigPolicy `yaml:"policies"`
}

// ConfigTag is a tag; Rule is the rule in YAML (any JSON value).
type ConfigTag struct {
	Name string `yaml:"name"`
	Rule any    `yaml:"rule"`
}

// ConfigPolicy is a policy.
type ConfigPolicy struct {
	Name     string          `yaml:"name"`
	Order    int             `yaml:"order"`
	Enabled  bool            `yaml:"enabled"`
	Tags     []string        `yaml:"tags"`
	MaxCount int             `yaml:"max_count"`
	Target   adminapi.Target `yaml:"target"`
}

// current reads the server's tags and policies as a Config.
func current(ctx context.Context, c *adminapi.Client) (Config, error) {
	var cfg Config
	ts, err := c.Tags(ctx)
	if err != nil {
		return cfg, err
	}
	for _, t := range ts {
		var rule any
		if err := json.Unmarshal(t.Rule, &rule); err != nil {
			return cfg, fmt.Errorf("tag %s: rule: %w", t.Name, err)
		}
		cfg.Tags = append(cfg.Tags, ConfigTag{Name: t.Name, Rule: rule})
	}
	ps, err := c.Policies(ctx)
	if err != nil {
		return cfg, err
	}
	for _, p := range ps {
		cp := ConfigPolicy{Name: p.Name, Order: p.Order, Enabled: p.Enabled == nil || *p.Enabled, Tags: p.Tags, MaxCount: p.MaxCount, Target: p.Target}
		if cp.Tags == nil {
			cp.Tags = []string{}
		}
		cfg.Policies = append(cfg.Policies, cp)
	}
	return cfg, nil
}

func newExportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write the server's tags and policies as YAML (for apply -f)",
		Args:  cobra.NoArgs,
	}
	f := addAdminFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := f.client()
		if err != nil {
			return err
		}
		cfg, err := current(cmd.Context(), c)
		if err != nil {
			return err
		}
		enc := yaml.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent(2)
		if err := enc.Encode(cfg); err != nil {
			return err
		}
		return enc.Close()
	}
	return cmd
}

func newApplyCmd() *cobra.Command {
	var file string
	var dryRun, prune bool
	cmd := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "Create or update the tags and policies a YAML file names (--prune deletes the others)",
		Args:  cobra.NoArgs,
	}
	f := addAdminFlags(cmd)
	cmd.Flags().StringVarP(&file, "file", "f", "", "YAML file as written by export (- for standard input)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print what would change, change nothing")
	cmd.Flags().BoolVar(&prune, "prune", false, "delete tags and policies the file does not name")
	cmd.MarkFlagRequired("file")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		var data []byte
		var err error
		if file == "-" {
			data, err = io.ReadAll(io.LimitReader(cmd.InOrStdin(), 16<<20))
		} else {
			data, err = os.ReadFile(file)
		}
		if err != nil {
			return fmt.Errorf("apply: %w", err)
		}
		var want Config
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&want); err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("apply: %s: %w", file, err)
		}
		c, err := f.client()
		if err != nil {
			return err
		}
		return apply(cmd.Context(), cmd.OutOrStdout(), c, want, dryRun, prune)
	}
	return cmd
}

// apply makes the server's tags and policies match want: tags first (a
// tag after the tags its rule refers to), then policies; with prune,
// policies are deleted before tags.
func apply(ctx context.Context, w io.Writer, c *adminapi.Client, want Config, dryRun, prune bool) error {
	have, err := current(ctx, c)
	if err != nil {
		return err
	}
	prefix := ""
	if dryRun {
		prefix = "(dry run) "
	}
	changes := 0
	say := func(format string, args ...any) {
		changes++
		fmt.Fprintf(w, prefix+format+"\n", args...)
	}
	haveTags := map[string]ConfigTag{}
	for _, t := range have.Tags {
		haveTags[t.Name] = t
	}
	// Tags: retry the ones that fail while others succeed (references).
	pending := slices.Clone(want.Tags)
	for len(pending) > 0 {
		var again []ConfigTag
		var lastErr error
		for _, t := range pending {
			rule, err := json.Marshal(t.Rule)
			if err != nil {
				return fmt.Errorf("apply: tag %s: rule: %w", t.Name, err)
			}
			old, exists := haveTags[t.Name]
			if exists && reflect.DeepEqual(normal(old.Rule), normal(t.Rule)) {
				continue
			}
			if dryRun {
				if exists {
					say("update tag %s: rule %s", t.Name, rule)
				} else {
					say("create tag %s: rule %s", t.Name, rule)
				}
				continue
			}
			if exists {
				_, err = c.UpdateTag(ctx, t.Name, rule)
			} else {
				_, err = c.CreateTag(ctx, t.Name, rule)
			}
			if err != nil {
				again, lastErr = append(again, t), fmt.Errorf("apply: tag %s: %w", t.Name, err)
				continue
			}
			haveTags[t.Name] = t
			if exists {
				say("updated tag %s", t.Name)
			} else {
				say("created tag %s", t.Name)
			}
		}
		if len(again) == len(pending) {
			return lastErr
		}
		pending = again
	}
	havePol := map[string]ConfigPolicy{}
	for _, p := range have.Policies {
		havePol[p.Name] = p
	}
	for _, p := range want.Policies {
		if p.Tags == nil {
			p.Tags = []string{}
		}
		old, exists := havePol[p.Name]
		if exists && reflect.DeepEqual(old, p) {
			continue
		}
		verb := map[bool]string{true: "update", false: "create"}[exists]
		if dryRun {
			say("%s policy %s", verb, p.Name)
			continue
		}
		enabled := p.Enabled
		ap := adminapi.Policy{Name: p.Name, Order: p.Order, Enabled: &enabled, Tags: p.Tags, MaxCount: p.MaxCount, Target: p.Target}
		if exists {
			_, err = c.UpdatePolicy(ctx, ap)
		} else {
			_, err = c.CreatePolicy(ctx, ap)
		}
		if err != nil {
			return fmt.Errorf("apply: policy %s: %w", p.Name, err)
		}
		say("%sd policy %s", verb, p.Name)
	}
	if prune {
		named := func(n string, xs []string) bool { return slices.Contains(xs, n) }
		var wantPol, wantTags []string
		for _, p := range want.Policies {
			wantPol = append(wantPol, p.Name)
		}
		for _, t := range want.Tags {
			wantTags = append(wantTags, t.Name)
		}
		for _, p := range have.Policies {
			if named(p.Name, wantPol) {
				continue
			}
			if !dryRun {
				if err := c.DeletePolicy(ctx, p.Name); err != nil {
					return fmt.Errorf("apply: delete policy %s: %w", p.Name, err)
				}
			}
			say("delete policy %s", p.Name)
		}
		left := []ConfigTag{}
		for _, t := range have.Tags {
			if !named(t.Name, wantTags) {
				left = append(left, t)
			}
		}
		for len(left) > 0 {
			var again []ConfigTag
			var lastErr error
			for _, t := range left {
				if !dryRun {
					if err := c.DeleteTag(ctx, t.Name); err != nil {
						again, lastErr = append(again, t), fmt.Errorf("apply: delete tag %s: %w", t.Name, err)
						continue
					}
				}
				say("delete tag %s", t.Name)
			}
			if len(again) == len(left) {
				return lastErr
			}
			left = again
		}
	}
	if changes == 0 {
		fmt.Fprintln(w, prefix+"no changes")
	}
	return nil
}

// normal makes a rule comparable: through JSON, so that YAML and JSON
// numbers and lists compare alike.
func normal(v any) any {
	b, _ := json.Marshal(v)
	var out any
	json.Unmarshal(b, &out)
	return out
}
