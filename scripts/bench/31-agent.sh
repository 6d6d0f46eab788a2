#!/usr/bin/env bash
# 31-agent.sh: the static mk-agent binary's size and the resident memory of
# `mk-agent run` while idle: checking in every 2 s with a local checkin
# server (internal/bench/agent), having registered this machine's facts,
# and serving its local web server and TCE mirror. VmRSS is read from
# /proc/<pid>/status after AGENT_BENCH_SECONDS (10) of running; median of
# 3 runs, each from a fresh state directory (so each registers once). Aim:
# idle RSS < 20 MB.
#
# Peers, measured the same way in the same run: the smallest possible
# agent, a shell loop running curl every 2 s (RSS of the shell), and, when
# python3 is installed, a checkin loop plus a local web server in Python 3
# (the original controller was Ruby + WEBrick; Ruby is not installed).
# Prints a markdown section on stdout; bounded to about two minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
idle=${AGENT_BENCH_SECONDS:-10}
runs=3

CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$tmp/mk-agent" ./cmd/mk-agent
CGO_ENABLED=0 go build -trimpath -o "$tmp/srv" ./internal/bench/agent
size=$(stat -c %s "$tmp/mk-agent")

"$tmp/srv" -addr 127.0.0.1:0 -interval 2 >"$tmp/srv.out" 2>&1 &
srvpid=$!
pids+=("$srvpid")
for _ in $(seq 50); do
  grep -q '^listening ' "$tmp/srv.out" 2>/dev/null && break
  sleep 0.1
done
addr=$(awk '/^listening / {print $2}' "$tmp/srv.out")
[ -n "$addr" ] || { echo "31-agent: bench checkin server did not start" >&2; exit 1; }
url="http://$addr/razor/api/node/checkin?hw_id=525400123456&last_state=idle"

median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) {print "n/a"; exit} m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f\n", m}'; }

# rss_after PID: waits $idle s, prints VmRSS of PID in MB, stops PID.
rss_after() {
  local pid=$1
  sleep "$idle"
  if [ ! -r "/proc/$pid/status" ]; then
    echo "31-agent: process $pid died early" >&2
    return 1
  fi
  awk '/^VmRSS:/ {printf "%.1f\n", $2/1024}' "/proc/$pid/status"
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

agent_rss=()
for i in $(seq "$runs"); do
  mkdir -p "$tmp/mirror"
  "$tmp/mk-agent" run --dry-run --server "http://$addr" --state-dir "$tmp/state$i" \
    --cmdline /dev/null --lease-dir "$tmp/none" --web-addr 127.0.0.1:0 --mirror-addr 127.0.0.1:0 \
    --mirror-dir "$tmp/mirror" --log-level warn 2>>"$tmp/agent.log" &
  agent_rss+=("$(rss_after $!)")
  [ -s "$tmp/state$i/registered_facts.json" ] || { echo "31-agent: run $i did not register" >&2; cat "$tmp/agent.log" >&2; exit 1; }
done
agent=$(printf '%s\n' "${agent_rss[@]}" | median)

sh_rss=()
for _ in $(seq "$runs"); do
  sh -c "while :; do curl -s -o /dev/null '$url'; sleep 2; done" &
  sh_rss+=("$(rss_after $!)")
done
peer_sh=$(printf '%s\n' "${sh_rss[@]}" | median)

peer_py=n/a
if command -v python3 >/dev/null; then
  cat >"$tmp/agent.py" <<'PY'
import http.server, sys, threading, time, urllib.request
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"{}")
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
threading.Thread(target=srv.serve_forever, daemon=True).start()
while True:
    urllib.request.urlopen(sys.argv[1]).read()
    time.sleep(2)
PY
  py_rss=()
  for _ in $(seq "$runs"); do
    python3 "$tmp/agent.py" "$url" &
    py_rss+=("$(rss_after $!)")
  done
  peer_py=$(printf '%s\n' "${py_rss[@]}" | median)
fi

kill -TERM "$srvpid"
wait "$srvpid" 2>/dev/null || true
served=$(awk '/^checkins / {print $2 " checkins, " $4 " registrations"}' "$tmp/srv.out")
ratio() { if [ "$2" = n/a ]; then echo n/a; else awk -v a="$1" -v p="$2" 'BEGIN {printf "%.2f", a/p}'; fi; }
mb=$(awk -v s="$size" 'BEGIN {printf "%.2f", s/1048576}')

cat <<EOT
## Agent idle memory (mk-agent run)

\`scripts/bench/31-agent.sh\`: \`mk-agent run --dry-run --server http://$addr …\` against a local
checkin server (\`internal/bench/agent\`, mk_checkin_interval 2 s), VmRSS after ${idle} s, median of
$runs runs; the peers run the same loop against the same server. The agent gathers this machine's
facts on every checkin, registered once per run, and serves its web server and TCE mirror. The
server saw $served over all runs, the agent's and the peers'.

| measure | mk-agent run | peer: sh + curl loop | ratio | peer: Python 3 loop + web server | ratio | aim |
|---|---|---|---|---|---|---|
| idle RSS (median MB) | $agent | $peer_sh | $(ratio "$agent" "$peer_sh") | $peer_py | $(ratio "$agent" "$peer_py") | < 20 |
| static binary size | $mb MB ($size bytes) | | | | | < 12 MB |

EOT
