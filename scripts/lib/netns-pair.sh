# netns-pair.sh: sourced by the network benchmarks (scripts/bench/2*.sh,
# 61-storm.sh). netns_pair NAME sets tmp (a fresh directory), srv and cli
# (the names NAMEs-PID and NAMEc-PID of the server's and the clients'
# network namespaces, which the script creates) and, on exit, also on
# failure, kills what runs in those namespaces, deletes them and removes
# tmp (kept with KEEP=1, to look at logs).
netns_pair() {
  tmp=$(mktemp -d)
  srv=$1s-$$ cli=$1c-$$
  trap netns_pair_cleanup EXIT
}

netns_pair_cleanup() {
  for ns in "$srv" "$cli"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
  [ -n "${KEEP:-}" ] || rm -rf "$tmp"
}
