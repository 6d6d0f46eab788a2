#!/usr/bin/env bash
# 21-tftp: TFTP throughput for a 64 MiB file, curl tftp:// against
# razor-netboot's TFTP server and dnsmasq's, each in turn in the same
# network namespace across the same veth pair, at the default 512-byte
# blocks and at blksize 1468 (one Ethernet frame). dnsmasq serves TFTP as
# user nobody, so the root and file are world-readable. Median of three
# downloads each. Needs root; about a minute. Prints a markdown section.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" -eq 0 ] || { echo "21-tftp: needs root (network namespaces)" >&2; exit 1; }
for p in curl dnsmasq ip; do
  command -v "$p" >/dev/null || { echo "21-tftp: $p missing (scripts/deps.sh)" >&2; exit 1; }
done
tmp=$(mktemp -d)
srv=btftps-$$ cli=btftpc-$$
cleanup() {
  for ns in "$srv" "$cli"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
go build -o "$tmp/nb" ./internal/bench/netboot
chmod 755 "$tmp"
mkdir -m 755 "$tmp/root"
head -c $((64 << 20)) /dev/urandom >"$tmp/root/big.bin"
chmod 644 "$tmp/root/big.bin"

ip netns add "$srv"; ip netns add "$cli"
ip -n "$srv" link set lo up; ip -n "$cli" link set lo up
ip -n "$srv" link add ts0 type veth peer name tc0 netns "$cli"
ip -n "$srv" addr add 10.91.0.1/24 dev ts0; ip -n "$srv" link set ts0 up
ip -n "$cli" addr add 10.91.0.2/24 dev tc0; ip -n "$cli" link set tc0 up

pid=""
start() {
  case $1 in
    razor-netboot) ip netns exec "$srv" "$tmp/nb" tftp -root "$tmp/root" -addr 10.91.0.1:69 2>>"$tmp/nb.log" & ;;
    dnsmasq) ip netns exec "$srv" dnsmasq -d -k --conf-file=/dev/null --port=0 --enable-tftp --tftp-root="$tmp/root" \
      --interface=ts0 --bind-interfaces --pid-file="$tmp/dnsmasq.pid" --user=nobody >>"$tmp/dnsmasq.log" 2>&1 & ;;
  esac
  pid=$!
  sleep 1
}
stop() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }

# fetch BLKSIZE → MB/s (MiB/s)
fetch() {
  local args=() speed
  [ "$1" = default ] || args=(--tftp-blksize "$1")
  speed=$(ip netns exec "$cli" curl -sS --max-time 120 "${args[@]}" -o "$tmp/out" -w '%{speed_download}' tftp://10.91.0.1/big.bin)
  cmp -s "$tmp/out" "$tmp/root/big.bin" || { echo "21-tftp: corrupt download" >&2; echo 0; return; }
  awk -v s="$speed" 'BEGIN{printf "%.1f", s/1048576}'
}

declare -A med
for s in razor-netboot dnsmasq; do
  start "$s"
  for b in default 1468; do
    runs=()
    for i in 1 2 3; do runs+=("$(fetch "$b")"); done
    echo "21-tftp: $s blksize $b: ${runs[*]} MiB/s" >&2
    med[$s,$b]=$(printf '%s\n' "${runs[@]}" | sort -n | sed -n 2p)
  done
  stop
done

echo "## TFTP: 64 MiB download (curl tftp://)"
echo
echo "Command: \`scripts/bench.sh 21-tftp\` — \`curl [--tftp-blksize 1468] tftp://SERVER/big.bin\` from one network"
echo "namespace to the server in another over a veth pair; median of three downloads, MiB/s, content checked."
echo "dnsmasq runs TFTP as nobody from a world-readable root."
echo
echo "| block size | razor-netboot (netboot/tftp, os.Root) | dnsmasq | ratio |"
echo "|---|---|---|---|"
for b in default 1468; do
  label=$b; [ "$b" = default ] && label="512 (default)"
  r=$(awk -v a="${med[razor-netboot,$b]}" -v d="${med[dnsmasq,$b]}" 'BEGIN{ if (d>0) printf "%.2fx", a/d; else print "n/a" }')
  echo "| $label | ${med[razor-netboot,$b]} | ${med[dnsmasq,$b]} | $r |"
done
echo
