#!/usr/bin/env bash
# 22-http: HTTP image download throughput, curl against razor-netboot's
# image handler (netboot/httpimg: os.Root, ServeContent, sendfile) and,
# as a peer, busybox httpd serving the same 256 MiB file, each in turn in
# the same network namespace over the same veth pair. Median of three
# downloads each. Needs root; under a minute. Prints a markdown section.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" -eq 0 ] || { echo "22-http: needs root (network namespaces)" >&2; exit 1; }
for p in curl busybox ip; do
  command -v "$p" >/dev/null || { echo "22-http: $p missing (scripts/deps.sh)" >&2; exit 1; }
done
tmp=$(mktemp -d)
srv=bhttps-$$ cli=bhttpc-$$
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
mkdir -p "$tmp/images/mk"
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
    razor-netboot) ip netns exec "$srv" "$tmp/nb" http -dir "$tmp/images" -addr 10.92.0.1:8026 2>>"$tmp/nb.log" & ;;
    "busybox httpd") ip netns exec "$srv" busybox httpd -f -p 10.92.0.1:8026 -h "$tmp" >>"$tmp/bb.log" 2>&1 & ;;
  esac
  pid=$!
  sleep 1
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
echo "namespace to the server in another over a veth pair; median of three downloads, MiB/s."
echo
echo "| server | MiB/s | ratio to busybox httpd |"
echo "|---|---|---|"
for s in razor-netboot "busybox httpd"; do
  r=$(awk -v a="${med[$s]}" -v b="${med[busybox httpd]}" 'BEGIN{ if (b>0) printf "%.2fx", a/b; else print "n/a" }')
  echo "| $s | ${med[$s]} | $r |"
done
echo
