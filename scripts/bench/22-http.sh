#!/usr/bin/env bash
# 22-http: HTTP image download throughput, curl against the product,
# `razor-netboot serve --dhcp off --tftp off` at its defaults otherwise
# (its /images/ handler, netboot/httpimg: os.Root, ServeContent,
# sendfile; SQLite store, info logging, per-address limits), and, as a
# peer, busybox httpd serving the same 256 MiB file, each in turn in the
# same network namespace over the same veth pair. Median of three
# downloads each. Needs root; under a minute. Prints a markdown section.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" -eq 0 ] || { echo "22-http: needs root (network namespaces)" >&2; exit 1; }
for p in curl busybox ip; do
  command -v "$p" >/dev/null || { echo "22-http: $p missing (scripts/deps.sh)" >&2; exit 1; }
done
. scripts/lib/netns-pair.sh
netns_pair bhttp
go build -o "$tmp/razor-netboot" ./cmd/razor-netboot
chmod 755 "$tmp"
mkdir -p "$tmp/images/mk" "$tmp/data"
head -c $((256 << 20)) /dev/urandom >"$tmp/images/mk/initrd"
chmod -R a+rX "$tmp/images"

ip netns add "$srv"; ip netns add "$cli"
ip -n "$srv" link set lo up; ip -n "$cli" link set lo up
ip -n "$srv" link add hs0 type veth peer name hc0 netns "$cli"
ip -n "$srv" addr add 10.92.0.1/24 dev hs0; ip -n "$srv" link set hs0 up
ip -n "$cli" addr add 10.92.0.2/24 dev hc0; ip -n "$cli" link set hc0 up

pid=""
start() {
  case $1 in
    razor-netboot)
      ip netns exec "$srv" "$tmp/razor-netboot" serve --data-dir "$tmp/data" --dhcp off --tftp off \
        --images-dir "$tmp/images" --http-addr 10.92.0.1:8026 --advertise-ip 10.92.0.1 >>"$tmp/razor.log" 2>&1 & ;;
    "busybox httpd") ip netns exec "$srv" busybox httpd -f -p 10.92.0.1:8026 -h "$tmp" >>"$tmp/bb.log" 2>&1 & ;;
  esac
  pid=$!
  local i
  for i in $(seq 50); do # until it answers
    ip netns exec "$cli" curl -s --max-time 1 -o /dev/null http://10.92.0.1:8026/ 2>/dev/null && return
    sleep 0.2
  done
  echo "22-http: $1 did not start" >&2; exit 1
}
stop() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }

fetch() {
  local speed
  speed=$(ip netns exec "$cli" curl -sS --fail --max-time 120 -o /dev/null -w '%{speed_download}' "http://10.92.0.1:8026/images/mk/initrd")
  awk -v s="$speed" 'BEGIN{printf "%.0f", s/1048576}'
}

declare -A med
for s in razor-netboot "busybox httpd"; do
  start "$s"
  runs=()
  for i in 1 2 3; do runs+=("$(fetch)"); done
  stop
  echo "22-http: $s: ${runs[*]} MiB/s" >&2
  med[$s]=$(printf '%s\n' "${runs[@]}" | sort -n | sed -n 2p)
done

echo "## HTTP image service: 256 MiB download (curl)"
echo
echo "Command: \`scripts/bench.sh 22-http\` — \`curl -o /dev/null http://SERVER:8026/images/mk/initrd\` from one network"
echo "namespace to the server in another over a veth pair; median of three downloads, MiB/s. The product is"
echo "\`razor-netboot serve --dhcp off --tftp off --images-dir DIR\` (its defaults otherwise: SQLite store, info"
echo "logging, per-address limits; the file is not a verified image, so only the image handler is exercised);"
echo "busybox httpd serves the same file in turn."
echo
echo "| server | MiB/s | ratio to busybox httpd |"
echo "|---|---|---|"
for s in razor-netboot "busybox httpd"; do
  r=$(awk -v a="${med[$s]}" -v b="${med[busybox httpd]}" 'BEGIN{ if (b>0) printf "%.2fx", a/b; else print "n/a" }')
  echo "| $s | ${med[$s]} | $r |"
done
echo
