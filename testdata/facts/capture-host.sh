#!/usr/bin/env bash
# capture-host.sh captures the /proc and /sys files mk-agent reads on the
# machine it runs on into testdata/facts/host (or the directory given), with
# "mk-agent facts --capture": only the files the collectors read, symbolic
# links kept as links. Run it as root so that root-only files (SMBIOS
# tables, PCI configuration space) are captured too; review the tree before
# committing it (it holds the host name, addresses and serial numbers).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${1:-$here/host}
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
(cd "$repo" && CGO_ENABLED=0 go build -trimpath -o "$bin/mk-agent" ./cmd/mk-agent)
rm -rf "$out"
"$bin/mk-agent" facts --capture "$out" >/dev/null
echo "capture-host: wrote $out ($(find "$out" -type f | wc -l) files, $(du -sh "$out" | cut -f1))" >&2
