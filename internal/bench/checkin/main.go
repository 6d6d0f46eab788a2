// Command checkin is the checkin server's load generator for
// scripts/bench/40-checkin.sh: many simulated nodes register, then check
// in over keep-alive HTTP connections for a bounded time, and it reports
// the rate and the latency percentiles as JSON. With -bare it is instead
// the ceiling to compare with: a bare net/http server answering the same
// URLs with fixed bodies.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/razor-mk/razor-mk/wire"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "checkin:", err)
		os.Exit(1)
	}
}

// Result is one measurement.
type Result struct {
	Mode     string  `json:"mode"`
	Requests int64   `json:"requests"`
	Errors   int64   `json:"errors"`
	Seconds  float64 `json:"seconds"`
	PerSec   float64 `json:"per_sec"`
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
	Conc     int     `json:"concurrency"`
	Nodes    int     `json:"nodes"`
	// Commands counts the checkin answers by command.
	Commands map[string]int64 `json:"commands,omitempty"`
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("checkin", flag.ContinueOnError)
	url := fs.String("url", "http://127.0.0.1:8026", "server base URL")
	mode := fs.String("mode", "checkin", "register (new nodes) or checkin (registered nodes)")
	nodes := fs.Int("nodes", 5000, "simulated nodes for checkin mode")
	conc := fs.Int("conc", 64, "concurrent clients (keep-alive connections)")
	dur := fs.Duration("duration", 5*time.Second, "measurement time (at most 5m)")
	seed := fs.Int("seed", 0, "distinguishes the MACs of separate runs against one store")
	bare := fs.String("bare", "", "serve the bare net/http ceiling on this address instead")
	suite := fs.String("suite", "", "run the whole benchmark against this razor-netboot binary and print markdown")
	runs := fs.Int("runs", 3, "suite: runs per measurement (the median is reported)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *bare != "" {
		return serveBare(ctx, *bare)
	}
	if *suite != "" {
		return runSuite(ctx, stdout, suiteOpts{bin: *suite, runs: *runs, dur: *dur, conc: *conc, nodes: *nodes})
	}
	if *conc < 1 || *conc > 4096 || *nodes < 1 || *dur <= 0 || *dur > 5*time.Minute {
		return errors.New("want 1 <= -conc <= 4096, -nodes >= 1, 0 < -duration <= 5m")
	}
	tr := &http.Transport{MaxIdleConns: *conc * 2, MaxIdleConnsPerHost: *conc * 2, MaxConnsPerHost: *conc * 2, IdleConnTimeout: time.Minute}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	var res Result
	var err error
	switch *mode {
	case "register":
		res, err = load(ctx, *conc, *dur, func(w int, i int64) (string, error) {
			return "", register(ctx, client, *url, mac(*seed, w, i))
		})
	case "checkin":
		// Register the nodes first (not measured), then check them in.
		var next atomic.Int64
		_, err = load(ctx, *conc, 5*time.Minute, func(int, int64) (string, error) {
			i := next.Add(1) - 1
			if i >= int64(*nodes) {
				return "", errDone
			}
			return "", register(ctx, client, *url, mac(*seed, -1, i))
		})
		if err != nil {
			return err
		}
		res, err = load(ctx, *conc, *dur, func(w int, i int64) (string, error) {
			n := (int64(w)*7919 + i*int64(*conc)) % int64(*nodes)
			return checkin(ctx, client, *url, mac(*seed, -1, n))
		})
	default:
		return fmt.Errorf("-mode: register or checkin, got %q", *mode)
	}
	if err != nil {
		return err
	}
	res.Mode, res.Conc, res.Nodes = *mode, *conc, *nodes
	enc := json.NewEncoder(stdout)
	return enc.Encode(res)
}

var errDone = errors.New("done")

// mac makes a distinct locally administered MAC for (seed, worker, i).
func mac(seed, w int, i int64) string {
	return fmt.Sprintf("02%02X%02X%06X", seed&0xff, (w+1)&0xff, i&0xffffff)
}

// load runs fn from conc workers until d passes (or fn returns errDone)
// and measures it.
func load(ctx context.Context, conc int, d time.Duration, fn func(w int, i int64) (string, error)) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		lat      []time.Duration
		errs     atomic.Int64
		reqs     atomic.Int64
		firstErr error
		cmds     = map[string]int64{}
	)
	start := time.Now()
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 4096)
			localCmds := map[string]int64{}
			for i := int64(0); ctx.Err() == nil; i++ {
				t0 := time.Now()
				cmd, err := fn(w, i)
				if errors.Is(err, errDone) {
					break
				}
				if ctx.Err() != nil {
					break // cut off by the deadline: not a measurement
				}
				reqs.Add(1)
				if err != nil {
					if errs.Add(1) == 1 {
						mu.Lock()
						firstErr = err
						mu.Unlock()
					}
					continue
				}
				local = append(local, time.Since(t0))
				if cmd != "" {
					localCmds[cmd]++
				}
			}
			mu.Lock()
			lat = append(lat, local...)
			for k, v := range localCmds {
				cmds[k] += v
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	el := time.Since(start)
	r := Result{Requests: reqs.Load(), Errors: errs.Load(), Seconds: el.Seconds()}
	if r.Errors > r.Requests/100 {
		return r, fmt.Errorf("%d of %d requests failed, first: %v", r.Errors, r.Requests, firstErr)
	}
	r.PerSec = float64(r.Requests-r.Errors) / el.Seconds()
	slices.Sort(lat)
	if len(lat) > 0 {
		r.P50ms = ms(lat[len(lat)*50/100])
		r.P99ms = ms(lat[min(len(lat)*99/100, len(lat)-1)])
	}
	if len(cmds) > 0 {
		r.Commands = cmds
	}
	return r, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

var facts = map[string]string{
	"architecture": "x86_64", "processorcount": "2", "physicalprocessorcount": "1", "memorysize": "1.94 GB",
	"memorysize_mb": "1987", "manufacturer": "QEMU", "productname": "Standard PC (Q35 + ICH9, 2009)",
	"is_virtual": "true", "virtual": "kvm", "mk_hw_cpu_count": "2", "mk_hw_mem_size": "2GiB", "mk_hw_nic_count": "1",
	"blockdevices": "vda", "blockdevice_vda_size": "10737418240", "interfaces": "eth0,lo",
}

func register(ctx context.Context, c *http.Client, base, mac string) error {
	f := make(map[string]string, len(facts)+1)
	for k, v := range facts {
		f[k] = v
	}
	f["macaddress"] = wire.ColonMAC(mac)
	body, err := wire.RegisterRequest{HWID: mac, Facts: f}.Encode()
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+wire.DefaultRegisterPath, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", wire.ContentTypeJSON)
	_, err = do(c, req)
	return err
}

func checkin(ctx context.Context, c *http.Client, base, mac string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+wire.DefaultCheckinPath+"?hw_id="+mac+"&last_state=idle", nil)
	if err != nil {
		return "", err
	}
	return do(c, req)
}

// do sends a request and returns the reply's command.
func do(c *http.Client, req *http.Request) (string, error) {
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s %s: %d %s", req.Method, req.URL.Path, resp.StatusCode, data)
	}
	// Only what the benchmark needs: wire.ParseReply would also validate
	// client_config (compiling its regular expression), load-generator
	// work that would eat into the server's share of the cores.
	var r struct {
		ErrCode  int    `json:"errcode"`
		Result   string `json:"result"`
		Response struct {
			CommandName string `json:"command_name"`
		} `json:"response"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return "", fmt.Errorf("%s: %w", req.URL.Path, err)
	}
	if r.ErrCode != 0 {
		return "", fmt.Errorf("%s: errcode %d: %s", req.URL.Path, r.ErrCode, r.Result)
	}
	return r.Response.CommandName, nil
}

// serveBare answers the node API with fixed bodies: the most net/http
// can do on this machine, to put the real server's figures beside.
func serveBare(ctx context.Context, addr string) error {
	cfg := wire.DefaultClientConfig()
	ack, _ := json.Marshal(wire.OK(wire.Acknowledge, &cfg))
	reg := []byte(`{"errcode":0,"result":"Ok","http_err_code":200,"response":{"@uuid":"node1"}}`)
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+wire.DefaultCheckinPath, func(w http.ResponseWriter, r *http.Request) {
		_ = r.URL.Query().Get("hw_id")
		w.Header().Set("Content-Type", "application/json")
		w.Write(ack)
	})
	mux.HandleFunc("POST "+wire.DefaultRegisterPath, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, io.LimitReader(r.Body, wire.MaxFactsBody))
		w.Header().Set("Content-Type", "application/json")
		w.Write(reg)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
