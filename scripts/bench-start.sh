#!/usr/bin/env bash
# bench-start.sh: the figures of issue 23 that are not database sizes: JSON
# decode on one core (records/s on each release's largest recorded
# answer) and the demo's first start on a fresh database (seconds until
# it serves). Appends a table to $1 (bench.sh calls it); TALLY_DATABASE_URL
# must reach a PostgreSQL where databases can be created.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${1:-/dev/stdout}
say() { printf '==> %s\n' "$*" >&2; }

say "JSON decode on one core"
{
  echo
  echo "| JSON decode, one core: release, API | records/s | MB/s |"
  echo "|---|---|---|"
  go test -run XXX -bench '^BenchmarkDecodeJobs$' -cpu 1 -benchtime 5x ./slurm/ |
    awk '/^BenchmarkDecodeJobs\// { r = ""; m = ""
      for (i = 2; i <= NF; i++) { if ($i == "records/s") r = $(i-1); if ($i == "MB/s") m = $(i-1) }
      sub(/^BenchmarkDecodeJobs\//, "", $1); printf "| %s | %.0f | %.0f |\n", $1, r, m }'
} >>"$out"

say "the demo's first start on a fresh database"
db=tally_bench_demo
psql "$TALLY_DATABASE_URL" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
url=$(sed -E "s#/[^/?]+(\?|$)#/$db\1#" <<<"$TALLY_DATABASE_URL")
bin=$(mktemp -d)/tally
go build -o "$bin" ./cmd/tally
log=$(mktemp)
start=$(date +%s.%N)
TALLY_DATABASE_URL=$url "$bin" demo --addr 127.0.0.1:0 >"$log" 2>&1 &
pid=$!
for _ in $(seq 1 1200); do
  grep -q "tally serving" "$log" && break
  kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.1
done
end=$(date +%s.%N)
kill "$pid"; wait "$pid" 2>/dev/null || true
records=$(grep -Eo 'ingest window ([0-9]+)/\1 · [0-9]+ records' "$log" | awk '{ s += $5 } END { print s }')
printf '\n| demo first start | %.1f s (%s records ingested through the demo slurmrestd) |\n|---|---|\n' \
  "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')" "$records" >>"$out"
psql "$TALLY_DATABASE_URL" -qc "DROP DATABASE IF EXISTS $db" >/dev/null
rm -f "$log"
