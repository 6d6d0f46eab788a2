// Command pg is the benchmark of scripts/bench/41-postgres.sh: the
// checkin server's registrations/s and checkins/s on the PostgreSQL store
// with one replica and with two replicas sharing the database, beside the
// embedded SQLite store, all measured in one run. It starts a throwaway
// PostgreSQL (package pgtest) that is durable like a production server
// (fsync and synchronous commit on), runs `razor-netboot serve` processes,
// drives them with the load generator of internal/bench/checkin (one
// generator per replica, the connections shared out, their rates added),
// and prints a markdown section with the medians.
//
// With -hold FILE it only starts that PostgreSQL, writes to FILE the
// directory of its Unix socket (which a server in another network
// namespace reaches: scripts/bench/20-dhcp.sh runs the product's DHCP on
// it) and its port, and keeps it running until interrupted.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/razor-mk/razor-mk/server/store/pgtest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pg:", err)
		os.Exit(1)
	}
}

type options struct {
	server, checkin string
	runs, conc      int
	nodes           int
	dur             time.Duration
	stderr          io.Writer
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pg", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.server, "razor-netboot", "", "razor-netboot binary (required)")
	fs.StringVar(&o.checkin, "checkin", "", "load generator binary, built from internal/bench/checkin (required)")
	fs.IntVar(&o.runs, "runs", 3, "runs per measurement (the median is reported)")
	fs.IntVar(&o.conc, "conc", 64, "concurrent connections in all")
	fs.IntVar(&o.nodes, "nodes", 2000, "registered nodes of the checkin measurement, in all")
	fs.DurationVar(&o.dur, "duration", 5*time.Second, "time of one measurement (at most 1m)")
	hold := fs.String("hold", "", "only start PostgreSQL, write its socket directory and port to this file, and wait for a signal")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *hold != "" {
		return holdServer(ctx, *hold)
	}
	if o.server == "" || o.checkin == "" {
		return errors.New("-razor-netboot and -checkin are required")
	}
	if o.runs < 1 || o.runs > 20 || o.conc < 2 || o.conc > 1024 || o.nodes < 2 || o.dur <= 0 || o.dur > time.Minute {
		return errors.New("want 1 <= -runs <= 20, 2 <= -conc <= 1024, -nodes >= 2, 0 < -duration <= 1m")
	}
	o.stderr = stderr
	tmp, err := os.MkdirTemp("", "razor-bench-pg-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	pg, err := pgtest.Start(ctx, pgtest.Options{Durable: true})
	if err != nil {
		return err
	}
	defer pg.Close()
	version, _ := exec.Command(filepath.Join(mustBin(), "postgres"), "--version").Output()

	res := map[string]map[string][]result{} // config → mode → runs
	configs := []struct {
		name     string
		replicas int
		store    func(run int) (string, error)
	}{
		{"sqlite", 1, func(run int) (string, error) {
			return "sqlite:" + filepath.Join(tmp, fmt.Sprintf("sqlite%d", run), "razor.db"), nil
		}},
		{"pg1", 1, func(int) (string, error) { return pg.CreateDatabase(ctx) }},
		{"pg2", 2, func(int) (string, error) { return pg.CreateDatabase(ctx) }},
	}
	for run := range o.runs {
		for _, c := range configs {
			store, err := c.store(run)
			if err != nil {
				return err
			}
			var urls []string
			var procs []*exec.Cmd
			for r := range c.replicas {
				u, p, err := serve(ctx, o.server, filepath.Join(tmp, fmt.Sprintf("%s-%d-%d", c.name, run, r)), store)
				if err != nil {
					stopAll(procs)
					return err
				}
				urls, procs = append(urls, u), append(procs, p)
			}
			if res[c.name] == nil {
				res[c.name] = map[string][]result{}
			}
			for i, mode := range []string{"register", "checkin"} {
				r, err := measure(ctx, o, mode, 100*run+10*i, urls)
				if err != nil {
					stopAll(procs)
					return fmt.Errorf("%s, %s: %w", c.name, mode, err)
				}
				res[c.name][mode] = append(res[c.name][mode], r)
			}
			stopAll(procs)
		}
	}
	return report(stdout, o, strings.TrimSpace(string(version)), res)
}

// holdServer runs a durable PostgreSQL until ctx ends, its socket
// directory and port written to file once it accepts connections.
func holdServer(ctx context.Context, file string) error {
	pg, err := pgtest.Start(ctx, pgtest.Options{Durable: true})
	if err != nil {
		return err
	}
	defer pg.Close()
	if err := os.WriteFile(file, fmt.Appendf(nil, "%s %d\n", pg.SocketDir(), pg.Port()), 0o644); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// mustBin is the directory of the PostgreSQL server binaries.
func mustBin() string {
	d, _ := pgtest.BinDir()
	return d
}

// result is what the load generator prints, and what this program adds.
type result struct {
	PerSec float64 `json:"per_sec"`
	P50ms  float64 `json:"p50_ms"`
	P99ms  float64 `json:"p99_ms"`
	Errors int64   `json:"errors"`
}

// serve starts one replica and waits until it answers.
func serve(ctx context.Context, bin, dir, store string) (string, *exec.Cmd, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.CommandContext(ctx, bin, "serve", "--dhcp", "off", "--tftp", "off", "--data-dir", dir, "--store", store,
		"--http-addr", addr, "--rate-limit", "0", "--register-timeout", "1h", "--log-level", "error")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	url := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url, cmd, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			cmd.Process.Kill()
			cmd.Wait()
			return "", nil, fmt.Errorf("razor-netboot on %s did not start: %v\n%s", store, err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func stopAll(procs []*exec.Cmd) {
	for _, p := range procs {
		p.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range procs {
		done := make(chan struct{})
		go func() {
			p.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			p.Process.Kill()
			<-done
		}
	}
}

// measure runs one generator per replica at once, with the connections
// and nodes shared out, and adds their rates.
func measure(ctx context.Context, o options, mode string, seed int, urls []string) (result, error) {
	n := len(urls)
	outs := make([]bytes.Buffer, n)
	cmds := make([]*exec.Cmd, n)
	for i, u := range urls {
		cmds[i] = exec.CommandContext(ctx, o.checkin, "-url", u, "-mode", mode, "-conc", fmt.Sprint(o.conc/n),
			"-nodes", fmt.Sprint(o.nodes/n), "-duration", o.dur.String(), "-seed", fmt.Sprint(seed+i))
		cmds[i].Stdout, cmds[i].Stderr = &outs[i], o.stderr
		if err := cmds[i].Start(); err != nil {
			return result{}, err
		}
	}
	var sum result
	var errs []error
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			errs = append(errs, fmt.Errorf("load generator against %s: %w", urls[i], err))
			continue
		}
		var r result
		if err := json.Unmarshal(outs[i].Bytes(), &r); err != nil {
			errs = append(errs, fmt.Errorf("load generator output %q: %w", outs[i].String(), err))
			continue
		}
		sum.PerSec += r.PerSec
		sum.P50ms, sum.P99ms = max(sum.P50ms, r.P50ms), max(sum.P99ms, r.P99ms)
		sum.Errors += r.Errors
	}
	return sum, errors.Join(errs...)
}

func median(rs []result, f func(result) float64) float64 {
	vs := make([]float64, len(rs))
	for i, r := range rs {
		vs[i] = f(r)
	}
	slices.Sort(vs)
	if len(vs)%2 == 1 {
		return vs[len(vs)/2]
	}
	return (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
}

func report(w io.Writer, o options, version string, res map[string]map[string][]result) error {
	rate := func(c, m string) float64 { return median(res[c][m], func(r result) float64 { return r.PerSec }) }
	lat := func(c, m string) string {
		return fmt.Sprintf("%.1f / %.1f", median(res[c][m], func(r result) float64 { return r.P50ms }),
			median(res[c][m], func(r result) float64 { return r.P99ms }))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "## Checkin server on PostgreSQL: one and two replicas\n\n")
	fmt.Fprintf(&b, "`scripts/bench/41-postgres.sh` (RUNS=%d DURATION=%s CONC=%d NODES=%d): the load generator of\n", o.runs, o.dur, o.conc, o.nodes)
	fmt.Fprintf(&b, "40-checkin (`internal/bench/checkin`) drives `razor-netboot serve --dhcp off --tftp off` over loopback\n")
	fmt.Fprintf(&b, "with %d keep-alive connections in all. Registrations are new nodes with 16 facts, each acknowledged\n", o.conc)
	fmt.Fprintf(&b, "only once on disk; checkins are %d registered nodes answered `acknowledge` (from the server's\n", o.nodes)
	fmt.Fprintf(&b, "memory; their times are written in batches). %s runs in a throwaway cluster on this\n", version)
	fmt.Fprintf(&b, "machine with fsync and synchronous commit on; each configuration starts from an empty database or\n")
	fmt.Fprintf(&b, "file. With two replicas on one database, two generators run at once, one per replica with half the\n")
	fmt.Fprintf(&b, "connections and nodes, and their rates are added. PostgreSQL, the replicas and the generators all\n")
	fmt.Fprintf(&b, "share this machine's cores. Medians of %d runs (`internal/bench/pg`).\n\n", o.runs)
	fmt.Fprintf(&b, "| store | replicas | registrations/s | vs SQLite | p50 / p99 ms | checkins/s | vs SQLite | p50 / p99 ms |\n")
	fmt.Fprintf(&b, "|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, c := range []struct{ key, name, n string }{{"sqlite", "SQLite (embedded)", "1"}, {"pg1", "PostgreSQL", "1"}, {"pg2", "PostgreSQL", "2"}} {
		fmt.Fprintf(&b, "| %s | %s | %.0f | %.2fx | %s | %.0f | %.2fx | %s |\n", c.name, c.n,
			rate(c.key, "register"), rate(c.key, "register")/rate("sqlite", "register"), lat(c.key, "register"),
			rate(c.key, "checkin"), rate(c.key, "checkin")/rate("sqlite", "checkin"), lat(c.key, "checkin"))
	}
	fmt.Fprintf(&b, "\nTwo replicas against one on PostgreSQL: registrations/s %.2fx (aim: 1.6x), checkins/s %.2fx.\n\n",
		rate("pg2", "register")/rate("pg1", "register"), rate("pg2", "checkin")/rate("pg1", "checkin"))
	_, err := io.WriteString(w, b.String())
	return err
}
