package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/razor-mk/razor-mk/internal/daemon"
	"github.com/razor-mk/razor-mk/server/adminapi"
	"github.com/spf13/cobra"
)

// newAdminCmds returns the admin CLI: nodes, tags, policies, commands.
func newAdminCmds() []*cobra.Command {
	return []*cobra.Command{newNodesCmd(), newTagsCmd(), newPoliciesCmd(), newCommandsCmd(), newTokensCmd(), newBMCCmd(), newEventsCmd(), newExportCmd(), newApplyCmd()}
}

// adminFlags are the flags every admin command shares.
type adminFlags struct {
	server, token, output, caFile string
}

// defaultServer is the admin API's default address.
const defaultServer = "http://localhost:8026"

// addAdminFlags adds --server, --token and -o to a command group.
func addAdminFlags(cmd *cobra.Command) *adminFlags {
	f := &adminFlags{}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.server, "server", "", "server URL (env RAZOR_SERVER, default "+defaultServer+")")
	pf.StringVar(&f.token, "token", "", "admin token (env RAZOR_TOKEN, default: <RAZOR_DATA_DIR or /var/lib/razor>/admin.token)")
	pf.StringVarP(&f.output, "output", "o", "table", "output: table, wide, json or yaml")
	pf.StringVar(&f.caFile, "ca-file", "", "CA certificate (PEM) to trust for an https:// server (env RAZOR_CA_FILE, default: <RAZOR_DATA_DIR or /var/lib/razor>/tls/ca.pem when readable, else the system's)")
	return f
}

// client builds the API client from flags, environment and token file.
func (f *adminFlags) client() (*adminapi.Client, error) {
	switch f.output {
	case "table", "wide", "json", "yaml":
	default:
		return nil, fmt.Errorf("-o: want table, wide, json or yaml, got %q", f.output)
	}
	server := f.server
	if server == "" {
		server = os.Getenv("RAZOR_SERVER")
	}
	if server == "" {
		server = defaultServer
	}
	dir := os.Getenv("RAZOR_DATA_DIR")
	if dir == "" {
		dir = "/var/lib/razor"
	}
	token := f.token
	if token == "" {
		token = os.Getenv("RAZOR_TOKEN")
	}
	if token == "" {
		if b, err := os.ReadFile(filepath.Join(dir, daemon.TokenFile)); err == nil {
			token = strings.TrimSpace(string(b))
		}
	}
	if token == "" {
		return nil, fmt.Errorf("no admin token: use --token, RAZOR_TOKEN or a readable %s", filepath.Join("/var/lib/razor", daemon.TokenFile))
	}
	hc, err := f.httpClient(server, dir)
	if err != nil {
		return nil, err
	}
	return &adminapi.Client{Server: server, Token: token, HTTP: hc}, nil
}

// httpClient trusts the --ca-file CA (or the data directory's tls auto
// CA) for an https:// server; nil means the default client.
func (f *adminFlags) httpClient(server, dir string) (*http.Client, error) {
	if !strings.HasPrefix(server, "https://") {
		return nil, nil
	}
	ca := f.caFile
	if ca == "" {
		ca = os.Getenv("RAZOR_CA_FILE")
	}
	explicit := ca != ""
	if !explicit {
		ca = filepath.Join(dir, daemon.TLSDir, "ca.pem")
	}
	pem, err := os.ReadFile(ca)
	if err != nil {
		if explicit {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		return nil, nil // the system's roots
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--ca-file %s: no PEM certificate", ca)
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
	}}, nil
}

// printJSON writes v indented.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// table writes rows under a header, aligned.
func table(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// ago formats a time relative to now for tables.
func ago(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	d := time.Since(*t).Round(time.Second)
	if d < 0 {
		return t.Format(time.RFC3339)
	}
	return d.String() + " ago"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func joinOrDash(xs []string) string {
	if len(xs) == 0 {
		return "-"
	}
	return strings.Join(xs, ",")
}

// readArg returns s, or the contents of a file for @FILE, or stdin for -.
func readArg(cmd *cobra.Command, s string) ([]byte, error) {
	switch {
	case s == "-":
		return io.ReadAll(io.LimitReader(cmd.InOrStdin(), adminapi.MaxBody+1))
	case strings.HasPrefix(s, "@"):
		return os.ReadFile(s[1:])
	}
	return []byte(s), nil
}
