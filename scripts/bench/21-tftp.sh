#!/usr/bin/env bash
# 21-tftp: TFTP throughput for a 64 MiB file: the product,
# `razor-netboot serve` at its defaults (TFTP root = --ipxe-dir; DHCP off;
# its SQLite store, logging and transfer caps), against dnsmasq's TFTP,
# each in turn in the same network namespace across the same veth pair.
# Clients: curl at the default 512-byte blocks and at blksize 1468 (one
# Ethernet frame), tftp-hpa (512 only: it has no blksize), and atftp with
# RFC 7440 windowsize (dnsmasq has none and answers in lock-step). dnsmasq
# serves TFTP as user nobody, so the root and file are world-readable.
# Median of RUNS (3) downloads each, content checked; CLIENTS picks some
# of the clients. Needs root; a few minutes. Prints a markdown section.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" -eq 0 ] || { echo "21-tftp: needs root (network namespaces)" >&2; exit 1; }
for p in curl tftp atftp dnsmasq ip; do
  command -v "$p" >/dev/null || { echo "21-tftp: $p missing (scripts/deps.sh)" >&2; exit 1; }
done
[ -f /usr/lib/ipxe/snponly.efi ] || { echo "21-tftp: /usr/lib/ipxe missing (scripts/deps.sh: ipxe)" >&2; exit 1; }
RUNS=${RUNS:-3}
. scripts/lib/netns-pair.sh
netns_pair btftp
go build -o "$tmp/razor-netboot" ./cmd/razor-netboot
chmod 755 "$tmp"
mkdir -m 755 "$tmp/root" "$tmp/data"
head -c $((64 << 20)) /dev/urandom >"$tmp/root/big.bin"
# serve wants the boot files DHCP names in its TFTP root (--ipxe-dir).
cp /usr/lib/ipxe/undionly.kpxe /usr/lib/ipxe/snponly.efi "$tmp/root/"
chmod 644 "$tmp/root"/*

ip netns add "$srv"; ip netns add "$cli"
ip -n "$srv" link set lo up; ip -n "$cli" link set lo up
ip -n "$srv" link add ts0 type veth peer name tc0 netns "$cli"
ip -n "$srv" addr add 10.91.0.1/24 dev ts0; ip -n "$srv" link set ts0 up
ip -n "$cli" addr add 10.91.0.2/24 dev tc0; ip -n "$cli" link set tc0 up

pid=""
start() {
  case $1 in
    razor-netboot)
      rm -rf "$tmp/data"; mkdir "$tmp/data"
      # A CPU profile of the server per client ($c); the section prints
      # the lock-step ones'. PROFILE=FILE keeps curl-1468's.
      ip netns exec "$srv" "$tmp/razor-netboot" serve --data-dir "$tmp/data" --dhcp off \
        --tftp 10.91.0.1:69 --ipxe-dir "$tmp/root" --http-addr 10.91.0.1:8026 --advertise-ip 10.91.0.1 \
        --cpuprofile "$tmp/tftp-$c.prof" >>"$tmp/razor.log" 2>&1 & ;;
    dnsmasq) ip netns exec "$srv" dnsmasq -d -k --conf-file=/dev/null --port=0 --enable-tftp --tftp-root="$tmp/root" \
      --interface=ts0 --bind-interfaces --pid-file="$tmp/dnsmasq.pid" --user=nobody >>"$tmp/dnsmasq.log" 2>&1 & ;;
  esac
  pid=$!
  local i rc
  for i in $(seq 50); do # until it answers (a missing file is an answer)
    rc=0
    ip netns exec "$cli" curl -s --max-time 1 -o /dev/null tftp://10.91.0.1/none 2>/dev/null || rc=$?
    [ "$rc" -eq 68 ] && return
    sleep 0.2
  done
  echo "21-tftp: $1 did not start" >&2; exit 1
}
stop() { kill -INT "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }

# fetch CLIENT → MiB/s, timed around the client process (curl's own
# figure agrees within a percent).
fetch() {
  local t0 t1 cmd
  rm -f "$tmp/out"
  case $1 in
    curl-512) cmd=(curl -sS --max-time 120 -o "$tmp/out" tftp://10.91.0.1/big.bin) ;;
    curl-1468) cmd=(curl -sS --max-time 120 --tftp-blksize 1468 -o "$tmp/out" tftp://10.91.0.1/big.bin) ;;
    hpa-512) cmd=(timeout 120 tftp -m binary 10.91.0.1 -c get big.bin "$tmp/out") ;;
    atftp-1468-w*) cmd=(timeout 120 atftp --option "blksize 1468" --option "windowsize ${1#atftp-1468-w}" -g -r big.bin -l "$tmp/out" 10.91.0.1) ;;
  esac
  t0=$(date +%s.%N)
  ip netns exec "$cli" "${cmd[@]}" >/dev/null 2>>"$tmp/client.log" || true
  t1=$(date +%s.%N)
  cmp -s "$tmp/out" "$tmp/root/big.bin" || { echo "21-tftp: $1: corrupt or failed download" >&2; echo 0; return; }
  awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", 64/(b-a)}'
}

# CLIENTS (space-separated) runs some of them only.
read -r -a clients <<<"${CLIENTS:-curl-512 hpa-512 curl-1468 atftp-1468-w16 atftp-1468-w64}"
servers=(razor-netboot dnsmasq)
declare -A med
# The servers take turns for each client, so that a noisy moment on this
# shared machine hits both alike.
for c in "${clients[@]}"; do
  for s in "${servers[@]}"; do
    start "$s"
    runs=()
    for _ in $(seq "$RUNS"); do runs+=("$(fetch "$c")"); done
    stop
    echo "21-tftp: $s $c: ${runs[*]} MiB/s" >&2
    med[$s,$c]=$(printf '%s\n' "${runs[@]}" | sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}')
  done
done

echo "## TFTP: 64 MiB download, the product against dnsmasq"
echo
echo "Command: \`scripts/bench.sh 21-tftp\` starts \`razor-netboot serve --dhcp off --tftp 10.91.0.1:69 --ipxe-dir ROOT\`"
echo "(the product at its defaults otherwise: SQLite store, info logging, 256 transfers, 8 per address) and"
echo "\`dnsmasq --enable-tftp\` in turn in one network namespace, and downloads a 64 MiB file from another"
echo "namespace over a veth pair; median of $RUNS downloads, MiB/s (64 MiB over the client's wall time),"
echo "content checked. Clients: curl (\`--tftp-blksize\`), tftp-hpa (512-byte blocks only) and atftp"
echo "(\`--option \"windowsize N\"\`, RFC 7440). dnsmasq has no windowsize: it answers atftp's request in"
echo "lock-step, so those rows compare a window against lock-step, the gain an operator gets."
echo
echo "| client, block size | razor-netboot serve (netboot/tftp) | dnsmasq | ratio |"
echo "|---|---|---|---|"
for c in "${clients[@]}"; do
  case $c in
    curl-512) label="curl, 512 (default)";;
    hpa-512) label="tftp-hpa, 512";;
    curl-1468) label="curl, 1468";;
    atftp-1468-w*) label="atftp, 1468, windowsize ${c#atftp-1468-w}";;
  esac
  r=$(awk -v a="${med[razor-netboot,$c]}" -v d="${med[dnsmasq,$c]}" 'BEGIN{ if (d>0) printf "%.2fx", a/d; else print "n/a" }')
  echo "| $label | ${med[razor-netboot,$c]} | ${med[dnsmasq,$c]} | $r |"
done
echo

# The target of issue 20 (TFTP >= dnsmasq at 512 and 1468 blocks), and
# where the product's time went in the lock-step runs.
echo "### Against the target (issue 20): TFTP ≥ dnsmasq"
echo
for c in curl-512 hpa-512 curl-1468; do
  [ -n "${med[razor-netboot,$c]:-}" ] || continue
  awk -v c="$c" -v a="${med[razor-netboot,$c]}" -v d="${med[dnsmasq,$c]}" 'BEGIN{
    r = (d > 0) ? a/d : 0; printf "- %s: %.2fx dnsmasq: **%s**.\n", c, r, (r >= 1) ? "met" : "not met" }'
done
echo "- windowsize (RFC 7440, atftp): the rows above; dnsmasq answers those requests in lock-step."
echo
echo "What limits lock-step TFTP here is explained in [docs/testing.md](docs/testing.md#benchmarks-what-each-figure-is)."
echo "CPU profiles of the server (\`serve --cpuprofile\`, the whole of one server's run of $RUNS downloads):"
echo
echo '```'
for c in curl-512 curl-1468; do
  [ -s "$tmp/tftp-$c.prof" ] || continue
  echo "== $c"
  go tool pprof -top -nodecount=8 "$tmp/razor-netboot" "$tmp/tftp-$c.prof" 2>/dev/null | sed -n '/^Duration/p; /flat%/,$p'
done
echo '```'
[ -z "${PROFILE:-}" ] || cp "$tmp/tftp-curl-1468.prof" "$PROFILE" 2>/dev/null || true
echo
