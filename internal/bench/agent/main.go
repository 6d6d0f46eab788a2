// Command agent is a minimal Razor checkin server for benchmarking
// `mk-agent run`: it answers a first checkin (or one from an unknown node)
// with register, every other with acknowledge and a client_config whose
// mk_checkin_interval is --interval, and accepts registrations. It prints
// "listening <addr>" once ready and, when stopped with SIGINT or SIGTERM,
// "checkins N registers M".
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/razor-mk/razor-mk/wire"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "agent bench server:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	interval := fs.Int("interval", 2, "mk_checkin_interval to send, seconds")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg := wire.DefaultClientConfig()
	cfg.CheckinInterval, cfg.CheckinSkew = *interval, 1
	if err := cfg.Validate(); err != nil {
		return err
	}
	var (
		mu                  sync.Mutex
		known               = map[string]bool{}
		checkins, registers int
	)
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+wire.DefaultCheckinPath, func(w http.ResponseWriter, r *http.Request) {
		req, err := wire.ParseCheckinQuery(r.URL.Query())
		if err != nil {
			writeReply(w, wire.Failure(http.StatusBadRequest, err.Error()))
			return
		}
		mu.Lock()
		checkins++
		cmd := wire.Acknowledge
		if req.FirstCheckin || !known[req.HWID] {
			cmd = wire.Register
		}
		mu.Unlock()
		writeReply(w, wire.OK(cmd, &cfg))
	})
	mux.HandleFunc("POST "+wire.DefaultRegisterPath, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, wire.MaxFactsBody+1))
		req, err := wire.ParseRegister(r.Header.Get("Content-Type"), body)
		if err != nil {
			writeReply(w, wire.Failure(http.StatusBadRequest, err.Error()))
			return
		}
		mu.Lock()
		registers++
		known[req.HWID] = true
		mu.Unlock()
		writeReply(w, wire.Reply{ErrCode: 0, Result: "Ok", HTTPErrCode: 200})
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	fmt.Fprintf(stdout, "listening %s\n", ln.Addr())
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	fmt.Fprintf(stdout, "checkins %d registers %d\n", checkins, registers)
	return nil
}

func writeReply(w http.ResponseWriter, r wire.Reply) {
	w.Header().Set("Content-Type", "application/json")
	if r.HTTPErrCode != 0 {
		w.WriteHeader(r.HTTPErrCode)
	}
	json.NewEncoder(w).Encode(r)
}
