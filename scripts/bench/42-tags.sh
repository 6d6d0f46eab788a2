#!/usr/bin/env bash
# 42-tags.sh: how long saving a tag and registering a node take with
# 10,000 nodes and 100 tags in the embedded SQLite store (issue 16:
# bounded tag work). Prints a markdown section on stdout; about a minute.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(go test -run '^$' -bench '^(BenchmarkTagSave|BenchmarkRegister)$' -benchtime 5x ./server/core/ 2>/dev/null)
ms() { awk -v n="$1" '$1 ~ "^"n"(-[0-9]+)?$" {printf "%.1f", $3/1e6}' <<<"$out"; }
reg=$(go test -run '^$' -bench '^BenchmarkRegister$' -benchtime 2000x ./server/core/ 2>/dev/null |
  awk '$1 ~ /^BenchmarkRegister/ {printf "%.2f", $3/1e6}')

cat <<EOT
## Tag work: 10,000 nodes, 100 tags (checkin server core, SQLite)

\`scripts/bench/42-tags.sh\`: \`go test -bench 'BenchmarkTagSave|BenchmarkRegister' ./server/core/\`.
The store holds 10,000 registered nodes of about sixty facts each and 100 tags (comparisons, regular
expressions, references to other tags). Saving a tag evaluates only that tag and the tags that
reference it, for every node, before the tag is stored; a registration evaluates one node's tags.
"full retag" is the former behaviour (every tag on every node), kept for comparison. Reading the
nodes' facts from the store is most of a save's time: only the facts the evaluated rules read are
read (SQLite picks them out of each node's JSON).

| operation | ms per operation |
|---|---:|
| save a tag no other references | $(ms BenchmarkTagSave/unreferenced) |
| save a tag 20 others reference | $(ms BenchmarkTagSave/referenced) |
| full retag (former behaviour) | $(ms BenchmarkTagSave/full-retag) |
| register one node (2000 registrations) | $reg |

An expensive rule no longer slows every other tag's save (issue 16 measured 4 s per unrelated save
after one), and a rule too expensive to evaluate is refused when saved.
EOT
