#!/usr/bin/env bash
# fuzz.sh: runs every Fuzz target briefly (FUZZTIME, default 5s each).
#
#   scripts/fuzz.sh          fuzz each target; CI runs this
#   scripts/fuzz.sh --save   then copy what the fuzzer found interesting into
#                            the package's testdata/fuzz/<target>/, the corpus
#                            committed with the code (go test replays it)
set -euo pipefail
cd "$(dirname "$0")/.."
save=0
case "${1:-}" in
  --save) save=1 ;;
  -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  "") ;;
  *) echo "fuzz.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
esac
cache=$(go env GOCACHE)/fuzz
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
    echo "fuzz $pkg $target" >&2
    # Minimising a new input may take up to a minute by default; brief runs
    # spend their time fuzzing instead.
    # Go's fuzzing engine sometimes ends a run with "context deadline
    # exceeded" when the time runs out while a worker is minimising, with
    # no failing input: that run is repeated once. A real failure writes
    # its input under testdata/fuzz and fails again.
    log=$(mktemp)
    for attempt in 1 2; do
      status=0
      go test -run '^$' -fuzz "^${target}\$" -fuzztime "${FUZZTIME:-5s}" -fuzzminimizetime 2s "$pkg" >"$log" 2>&1 || status=$?
      if [ "$status" = 0 ] || [ "$attempt" = 2 ] || ! grep -q "context deadline exceeded" "$log" || grep -q "Failing input written" "$log"; then
        break
      fi
      echo "  $target: the fuzzing engine timed out without a failing input; running it again" >&2
    done
    cat "$log"
    rm -f "$log"
    [ "$status" = 0 ] || exit "$status"
    if [ "$save" = 1 ] && [ -d "$cache/$pkg/$target" ]; then
      mkdir -p "$dir/testdata/fuzz/$target"
      cp -n "$cache/$pkg/$target"/* "$dir/testdata/fuzz/$target/"
      echo "  corpus: $(ls "$dir/testdata/fuzz/$target" | wc -l) inputs in ${dir#"$PWD"/}/testdata/fuzz/$target" >&2
    fi
  done
done
