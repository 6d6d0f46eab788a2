#!/usr/bin/env bash
# 20-dhcp: DHCPv4 DORA exchanges per second, perfdhcp (Debian kea-admin)
# against the product, `razor-netboot serve --dhcp full` at its defaults
# (SQLite store in a fresh data directory, info logging, TFTP and HTTP on),
# against kea-dhcp4 (memfile) and dnsmasq, each in turn in the same network
# namespace over the same veth pair; perfdhcp runs in a second namespace.
# The leases.File harness (internal/bench/netboot) runs too, as an extra,
# labelled row, and the product on PostgreSQL (a throwaway durable
# cluster, internal/bench/pg -hold, reached over its Unix socket) when
# PostgreSQL is installed.
#
# Two methods, each relayed (perfdhcp as a relay: giaddr set, unicast to
# the server) and broadcast (`perfdhcp -l IF` with no server: DISCOVERs to
# 255.255.255.255 from the client namespace, as a rack's nodes send them):
#  - drop-free rate: the offered rate ramps ×1.4 from 350/s in 3 s steps,
#    the servers taking turns at each rate (fresh server each step, one
#    retry), until perfdhcp reports drops, then bisects three times; the
#    ACKs/s at the last drop-free rate is the figure;
#  - overload: 30,000/s offered for 8 s (-r 30000 -p 8): ACKs/s received,
#    drops, and non-unique addresses (perfdhcp -u).
# Needs root; bounded (about ten minutes). Prints a markdown section.
# Where packets are lost is counted too: UDP receive-buffer overflows in
# the server's namespace and in perfdhcp's (/proc/net/snmp), and the
# CPU time each server used per 1,000 ACKs under overload.
# Environment: SERVERS (default all), MODES (relayed broadcast), SKIP_RAMP=1,
# PROFILE=FILE (keep the CPU profile of razor-netboot's better broadcast
# overload run; the section always prints its top entries).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" -eq 0 ] || { echo "20-dhcp: needs root (network namespaces)" >&2; exit 1; }
for p in perfdhcp kea-dhcp4 dnsmasq ip ss; do
  command -v "$p" >/dev/null || { echo "20-dhcp: $p missing (scripts/deps.sh)" >&2; exit 1; }
done

. scripts/lib/netns-pair.sh
netns_pair bdhcp
go build -o "$tmp/razor-netboot" ./cmd/razor-netboot
go build -o "$tmp/nb" ./internal/bench/netboot
servers=(${SERVERS:-razor-netboot razor-netboot-pg kea-dhcp4 dnsmasq harness})
# The product on PostgreSQL: one durable cluster for the run, a fresh
# database for each server start, reached over the Unix socket (which a
# process in another network namespace can use).
pgdir="" pgport=""
if [[ " ${servers[*]} " == *" razor-netboot-pg "* ]]; then
  if ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    go build -o "$tmp/pg" ./internal/bench/pg
    "$tmp/pg" -hold "$tmp/pgsock" >>"$tmp/pg.log" 2>&1 &
    pgpid=$!
    trap 'kill -INT "$pgpid" 2>/dev/null; wait "$pgpid" 2>/dev/null; netns_pair_cleanup' EXIT
    for _ in $(seq 100); do [ -s "$tmp/pgsock" ] && break; sleep 0.3; done
    [ -s "$tmp/pgsock" ] || { echo "20-dhcp: PostgreSQL did not start: $(tail -5 "$tmp/pg.log")" >&2; exit 1; }
    read -r pgdir pgport <"$tmp/pgsock"
  else
    echo "20-dhcp: PostgreSQL not installed: the product on PostgreSQL is left out" >&2
    mapfile -t servers < <(printf '%s\n' "${servers[@]}" | grep -vx razor-netboot-pg)
  fi
fi

ip netns add "$srv"; ip netns add "$cli"
ip -n "$srv" link set lo up; ip -n "$cli" link set lo up
ip -n "$srv" link add bs0 type veth peer name bc0 netns "$cli"
ip -n "$srv" addr add 10.90.0.1/14 dev bs0; ip -n "$srv" link set bs0 up
ip -n "$cli" addr add 10.90.200.1/14 dev bc0; ip -n "$cli" link set bc0 up

FROM=10.88.1.0 TO=10.90.255.254 SUBNET=10.88.0.0/14
PERIOD=3 CLIENTS=200000

# kea: UDP sockets for relayed traffic; raw sockets (its default) for
# broadcast, which UDP sockets cannot answer on a link.
for sock in udp raw; do
cat >"$tmp/kea-$sock.json" <<JSON
{"Dhcp4": {
  "interfaces-config": {"interfaces": ["bs0"], "dhcp-socket-type": "$sock"},
  "lease-database": {"type": "memfile", "persist": true, "name": "$tmp/kea-leases.csv", "lfc-interval": 0},
  "valid-lifetime": 3600,
  "subnet4": [{"id": 1, "subnet": "$SUBNET", "pools": [{"pool": "$FROM - $TO"}]}],
  "loggers": [{"name": "kea-dhcp4", "severity": "WARN", "output_options": [{"output": "$tmp/kea.log"}]}]
}}
JSON
done

pid="" mode=relayed
# start NAME [PROFILEFILE], for $mode
start() {
  rm -rf "$tmp"/leases.journal "$tmp"/kea-leases.csv* "$tmp"/dnsmasq.leases "$tmp/data"
  mkdir "$tmp/data"
  case $1 in
    razor-netboot)
      ip netns exec "$srv" "$tmp/razor-netboot" serve --data-dir "$tmp/data" --dhcp full --dhcp-interface bs0 \
        --dhcp-range "$FROM-$TO" --http-addr 10.90.0.1:8026 --advertise-ip 10.90.0.1 \
        ${2:+--cpuprofile "$2"} >>"$tmp/razor.log" 2>&1 & ;;
    razor-netboot-pg)
      psql -q -h "$pgdir" -p "$pgport" -U postgres -d postgres -c "DROP DATABASE IF EXISTS razor_dhcp WITH (FORCE)" \
        -c "CREATE DATABASE razor_dhcp" >>"$tmp/pg.log" 2>&1
      ip netns exec "$srv" "$tmp/razor-netboot" serve --data-dir "$tmp/data" --dhcp full --dhcp-interface bs0 \
        --store "postgres://postgres@/razor_dhcp?host=$pgdir&port=$pgport&sslmode=disable" \
        --dhcp-range "$FROM-$TO" --http-addr 10.90.0.1:8026 --advertise-ip 10.90.0.1 >>"$tmp/razor.log" 2>&1 & ;;
    harness)
      ip netns exec "$srv" "$tmp/nb" dhcp -iface bs0 -from $FROM -to $TO -subnet $SUBNET -server 10.90.0.1 \
        -store "$tmp/leases.journal" 2>>"$tmp/nb.log" & ;;
    kea-dhcp4)
      KEA_PIDFILE_DIR=$tmp KEA_LOCKFILE_DIR=$tmp ip netns exec "$srv" kea-dhcp4 -c "$tmp/kea-$([ "$mode" = relayed ] && echo udp || echo raw).json" >>"$tmp/kea.out" 2>&1 & ;;
    dnsmasq)
      ip netns exec "$srv" dnsmasq -d -k --conf-file=/dev/null --port=0 --interface=bs0 --bind-interfaces \
        --dhcp-range=$FROM,$TO,255.252.0.0,1h --dhcp-leasefile="$tmp/dnsmasq.leases" --pid-file="$tmp/dnsmasq.pid" \
        --no-ping --quiet-dhcp --dhcp-authoritative --user=root --dhcp-lease-max=$CLIENTS >>"$tmp/dnsmasq.log" 2>&1 & ;;
  esac
  pid=$!
  local i
  for i in $(seq 50); do # until port 67 is bound, then a moment to settle
    if ip netns exec "$srv" ss -Hlun 'sport = :67' | grep -q .; then sleep 0.5; return; fi
    sleep 0.1
  done
  echo "20-dhcp: $1 did not bind port 67" >&2
}
stop() { kill -INT "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }

# rcvbuf NS: UDP datagrams dropped so far in NS because a socket's
# receive buffer was full (RcvbufErrors).
rcvbuf() { ip netns exec "$1" awk '/^Udp:/ { if (h) { print $6; exit } h = 1 }' /proc/net/snmp; }
# cpu PID: user+system CPU seconds the process has used.
cpu() { awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# perf MODE RATE PERIOD → "acks_per_s drops nonunique server_overflows
# client_overflows server_cpu_s"
perf() {
  local out target=() s0 c0 u0
  [ "$1" = relayed ] && target=(10.90.0.1)
  s0=$(rcvbuf "$srv") c0=$(rcvbuf "$cli") u0=$(cpu "$pid")
  out=$(ip netns exec "$cli" timeout 60 perfdhcp -4 -l bc0 -u -r "$2" -p "$3" -R $CLIENTS -W 1000000 "${target[@]}" 2>&1 || true)
  echo "== $1 rate $2 period $3" >>"$tmp/perfdhcp.log"
  echo "$out" >>"$tmp/perfdhcp.log"
  echo "$out" | awk -v p="$3" -v so=$(($(rcvbuf "$srv") - s0)) -v co=$(($(rcvbuf "$cli") - c0)) \
      -v u="$(awk -v a="$(cpu "$pid")" -v b="$u0" 'BEGIN{print a-b}')" '
    /DISCOVER-OFFER/ {ex="do"} /REQUEST-ACK/ {ex="ra"}
    /received packets:/ && ex=="ra" {acks=$3}
    /drops:/ {d+=$2}
    /non unique addresses:/ || /non-unique addresses:/ {nu+=$NF}
    END {printf "%.0f %d %d %d %d %.2f\n", acks/p, d, nu, so, co, u}'
}

# step SERVER MODE RATE → sets got drops; succeeds when a run (of two
# tries) has no drop.
step() {
  local attempt nu
  for attempt in 1 2; do
    mode=$2
    start "$1"
    read -r got drops nu sover cover _ < <(perf "$2" "$3" $PERIOD)
    stop
    echo "20-dhcp: $1 $2 rate $3 try $attempt: $got ACK/s, $drops drops, $nu non-unique, overflows: server $sover, perfdhcp $cover" >&2
    if [ "$drops" -eq 0 ]; then return 0; fi
  done
  return 1
}

modes=(${MODES:-relayed broadcast})
# Which servers run which method: the harness only relayed (it is a
# reference row); dnsmasq only in the ramps (it is far behind).
runs() { # MODE KIND → servers
  local s
  for s in "${servers[@]}"; do
    case $s,$1,$2 in
      harness,broadcast,*|dnsmasq,*,overload) ;;
      *) echo "$s" ;;
    esac
  done
}

declare -A best bestacks hi lost
# fail SERVER MODE RATE: the step at RATE failed; its last try's drops,
# as a share of the packets perfdhcp sent, are kept for the lowest
# failing rate.
fail() {
  hi[$1,$2]=$3
  lost[$1,$2]=$(awk -v d="$drops" -v r="$3" -v p=$PERIOD -v so="$sover" -v co="$cover" 'BEGIN{printf "%d/s: %d of ~%d (%.2f%%); overflows: server %d, perfdhcp %d", r, d, 2*r*p, 100*d/(2*r*p), so, co}')
}
if [ -z "${SKIP_RAMP:-}" ]; then
  for m in "${modes[@]}"; do
    mapfile -t ss < <(runs "$m" ramp)
    for s in "${ss[@]}"; do best[$s,$m]=0 bestacks[$s,$m]=0 hi[$s,$m]=0 lost[$s,$m]=""; done
    rate=350
    # The servers take turns at each rate, so that a noisy moment on this
    # shared machine hits them alike rather than whichever ramps then.
    while [ "$rate" -le 40000 ]; do
      alive=0
      for s in "${ss[@]}"; do
        [ "${hi[$s,$m]}" -eq 0 ] || continue
        alive=1
        if step "$s" "$m" "$rate"; then best[$s,$m]=$rate bestacks[$s,$m]=$got; else fail "$s" "$m" "$rate"; fi
      done
      [ "$alive" -eq 1 ] || break
      rate=$((rate * 7 / 5))
    done
    for _ in 1 2 3; do
      for s in "${ss[@]}"; do
        [ "${hi[$s,$m]}" -gt 0 ] || continue
        mid=$(((best[$s,$m] + hi[$s,$m]) / 2))
        [ "${best[$s,$m]}" -gt 0 ] && [ "$mid" -gt "${best[$s,$m]}" ] || continue
        if step "$s" "$m" "$mid"; then best[$s,$m]=$mid bestacks[$s,$m]=$got; else fail "$s" "$m" "$mid"; fi
      done
    done
  done
fi

# Overload: 30,000/s offered for 8 s, two runs each, the better kept (a
# noisy neighbour only makes a run worse).
declare -A oacks odrops onu ocpu
bestprof=""
for m in "${modes[@]}"; do
  mapfile -t ss < <(runs "$m" overload)
  for s in "${ss[@]}"; do oacks[$s,$m]=-1; done
  for run in 1 2; do
    for s in "${ss[@]}"; do
      prof=""
      [ "$s" = razor-netboot ] && [ "$m" = broadcast ] && prof=$tmp/overload-$run.prof
      mode=$m
      start "$s" "$prof"
      read -r a d nu _ _ u < <(perf "$m" 30000 8)
      stop
      echo "20-dhcp: $s $m overload: $a ACK/s, $d drops, $nu non-unique, $u s CPU" >&2
      if [ "$a" -gt "${oacks[$s,$m]}" ]; then
        oacks[$s,$m]=$a odrops[$s,$m]=$d onu[$s,$m]=$nu
        ocpu[$s,$m]=$(awk -v u="$u" -v a="$a" 'BEGIN{ if (a>0) printf "%.0f", 1e6*u/(a*8); else print "n/a" }')
        [ -z "$prof" ] || bestprof=$prof
      fi
    done
  done
done

store() {
  case $1 in
    razor-netboot) echo "SQLite (the default store), a lease committed before its ACK";;
    razor-netboot-pg) echo "PostgreSQL $(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1) (fsync, synchronous commit), a lease committed before its ACK";;
    harness) echo "leases.File journal, fsync before every ACK (group commit)";;
    kea-dhcp4) echo "memfile CSV, appended, not fsynced";;
    dnsmasq) echo "lease file rewritten per change, not fsynced";;
  esac
}
label() {
  case $1 in
    razor-netboot) echo "razor-netboot serve (the product)";;
    razor-netboot-pg) echo "razor-netboot serve on PostgreSQL (the product, --store postgres://…)";;
    harness) echo "harness: internal/bench/netboot (netboot/dhcp alone, warnings only)";;
    *) echo "$1";;
  esac
}

echo "## DHCP: DORA exchanges per second (perfdhcp), the product against kea"
echo
echo "Command: \`scripts/bench.sh 20-dhcp\`. The product is \`razor-netboot serve --dhcp full --dhcp-interface bs0"
echo "--dhcp-range $FROM-$TO\` at its defaults otherwise (a fresh SQLite store, info logging to a file, TFTP"
echo "and HTTP on), started as an operator would; kea-dhcp4 keeps leases in memfile, dnsmasq in its lease file."
echo "perfdhcp (\`perfdhcp -4 -l bc0 -u -R $CLIENTS -W 1000000 [10.90.0.1]\`) runs in one network namespace,"
echo "each server in turn in another, joined by a veth pair, all on the same $(nproc) cores. *Relayed*: perfdhcp"
echo "acts as a relay (giaddr set, unicast to 10.90.0.1). *Broadcast*: no server address, so DISCOVERs and"
echo "REQUESTs go to 255.255.255.255 from the client namespace, as a rack's nodes send them."
echo
if [ -z "${SKIP_RAMP:-}" ]; then
  echo "### Highest drop-free rate"
  echo
  echo "The offered rate ramps ×1.4 from 350/s in ${PERIOD} s steps, the servers taking turns at each rate, then"
  echo "bisects three times between each server's last passing and first failing rate; each step runs on a"
  echo "fresh server and store and passes when perfdhcp counts no drop (it waits 1 s for late answers), with"
  echo "one retry because the machine is shared and noisy. The figure is the ACKs/s received at the highest"
  echo "passing rate: a DHCP server that drops under load makes clients back off for seconds. The last column"
  echo "is how each server fails: the packets lost at its lowest failing rate, on that rate's last try."
  echo "Overflows are UDP receive-buffer drops (/proc/net/snmp) in the server's namespace and in perfdhcp's;"
  echo "kea's broadcast mode reads through raw sockets, whose drops that count does not see."
  echo
  echo "| method | server | lease store | highest drop-free rate (/s) | ACKs/s at that rate | ratio to kea | lost just above |"
  echo "|---|---|---|---|---|---|---|"
  for m in "${modes[@]}"; do
    mapfile -t ss < <(runs "$m" ramp)
    kea=${bestacks[kea-dhcp4,$m]:-0}
    for s in "${ss[@]}"; do
      ratio=$(awk -v a="${bestacks[$s,$m]}" -v b="$kea" 'BEGIN{ if (b>0) printf "%.2fx", a/b; else print "n/a" }')
      echo "| $m | $(label "$s") | $(store "$s") | ${best[$s,$m]} | ${bestacks[$s,$m]} | $ratio | ${lost[$s,$m]:-none up to 40000/s} |"
    done
  done
  echo
fi
echo "### Under overload: 30,000 DISCOVERs/s offered for 8 s"
echo
echo "\`perfdhcp … -r 30000 -p 8\`, two runs per server, the better kept. ACKs/s is the REQUEST-ACK"
echo "exchanges completed per second of the run; drops are the DISCOVERs and REQUESTs left unanswered"
echo "(most of what is offered, for every server: the point is how much each completes); non-unique is"
echo "perfdhcp's count of addresses given to two clients (-u), which must be 0. CPU is the user+system"
echo "time the server process used per 1,000 ACKs (both the DISCOVERs and the REQUESTs it answered)."
echo
echo "| method | server | ACKs/s | ratio to kea | drops | non-unique addresses | server CPU ms per 1,000 ACKs |"
echo "|---|---|---|---|---|---|---|"
for m in "${modes[@]}"; do
  mapfile -t ss < <(runs "$m" overload)
  kea=${oacks[kea-dhcp4,$m]:-0}
  for s in "${ss[@]}"; do
    ratio=$(awk -v a="${oacks[$s,$m]}" -v b="$kea" 'BEGIN{ if (b>0) printf "%.2fx", a/b; else print "n/a" }')
    echo "| $m | $(label "$s") | ${oacks[$s,$m]} | $ratio | ${odrops[$s,$m]} | ${onu[$s,$m]} | ${ocpu[$s,$m]} |"
  done
done
echo

# The targets of issue 20, from this run's figures, and where the
# product's time went in its better broadcast overload run.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b>0) printf "%.2f", a/b; else print "0" }'; }
verdict() { awk -v r="$1" -v t="$2" 'BEGIN{ print (r >= t) ? "met" : "not met" }'; }
echo "### Against the targets (issue 20)"
echo
if [ -z "${SKIP_RAMP:-}" ]; then
  for m in "${modes[@]}"; do
    r=$(ratio "${bestacks[razor-netboot,$m]:-0}" "${bestacks[kea-dhcp4,$m]:-0}")
    echo "- Drop-free, $m: ${r}x kea, target 2x: **$(verdict "$r" 2)**."
  done
fi
for m in "${modes[@]}"; do
  r=$(ratio "${oacks[razor-netboot,$m]:-0}" "${oacks[kea-dhcp4,$m]:-0}")
  echo "- Overload, $m: ${r}x kea, target 1x: **$(verdict "$r" 1)**."
done
if [ -n "$pgdir" ]; then
  for m in "${modes[@]}"; do
    [ -z "${SKIP_RAMP:-}" ] && d=$(ratio "${bestacks[razor-netboot-pg,$m]:-0}" "${bestacks[kea-dhcp4,$m]:-0}") || d=n/a
    o=$(ratio "${oacks[razor-netboot-pg,$m]:-0}" "${oacks[kea-dhcp4,$m]:-0}")
    echo "- On PostgreSQL (stated separately), $m: drop-free ${d}x kea, overload ${o}x kea."
  done
fi
echo "- Non-unique addresses: the product's counts are in the tables above (must be 0); every lease is"
echo "  committed to SQLite (WAL, synchronous=FULL) before its ACK, where kea's memfile is not fsynced."
echo
echo "What limits the product here is explained in [docs/testing.md](docs/testing.md#benchmarks-what-each-figure-is)."
if [ -n "$bestprof" ] && [ -s "$bestprof" ]; then
  [ -z "${PROFILE:-}" ] || cp "$bestprof" "$PROFILE"
  echo "CPU profile of razor-netboot in its better broadcast overload run (\`serve --cpuprofile\`, \`go tool pprof -top\`):"
  echo "the header says how much CPU the server got, then the top entries by own time and by cumulative time."
  echo
  echo '```'
  go tool pprof -top -nodecount=10 "$tmp/razor-netboot" "$bestprof" 2>/dev/null | sed -n '/^Duration/p; /flat%/,$p'
  echo
  go tool pprof -top -cum -nodecount=16 "$tmp/razor-netboot" "$bestprof" 2>/dev/null | sed -n '/flat%/,$p'
  echo '```'
fi
echo
