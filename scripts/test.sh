#!/usr/bin/env bash
# test.sh: the whole suite, as `make test` and CI run it. Installs what the
# tests need when run as root on Debian/Ubuntu, prepares the fixtures that
# live outside Go (PAM users, the Slurm testbed), then runs go vet and
# go test. TALLY_TEST_REQUIRE=1 makes tests fail, not skip, when something
# they need is missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
say() { printf '==> %s\n' "$*" >&2; }

export TALLY_TEST_REQUIRE=${TALLY_TEST_REQUIRE:-1}

"$root/scripts/deps.sh" test

# The testbed first: it creates the Unix users alice and bob, whose
# passwords the PAM set-up then sets.
say "Slurm testbed"
"$root/scripts/test-slurm-setup.sh"
if [ -f "$root/.tally/slurm-test.env" ]; then
  # shellcheck disable=SC1091
  . "$root/.tally/slurm-test.env"
fi

if [ "$(id -u)" = 0 ]; then
  say "PAM test users and service"
  "$root/scripts/test-pam-setup.sh"
fi

say "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.tally/*'))
if [ -n "$unformatted" ]; then echo "gofmt would change: $unformatted" >&2; exit 1; fi
say "go vet"
go vet ./...
say "go test"
go test -count=1 -timeout 15m ${GOTESTFLAGS:-} ./...
# The live tests again, against the current release's testbed: discovery,
# tokens, REST and sacct ingest of the same jobs, associations, sign-in.
if [ -f "$root/.tally/slurm-24.11.env" ]; then
  say "live tests against Slurm 24.11"
  (
    # shellcheck disable=SC1091
    . "$root/.tally/slurm-24.11.env"
    export PATH="$SLURM_BIN:$PATH"
    live_log=$(mktemp)
    live_status=0
    go test -count=1 -timeout 10m -run 'Live' -v ./slurm/ ./slurm/ingest/ ./web/ >"$live_log" 2>&1 || live_status=$?
    grep -E '^(--- |ok|FAIL)' "$live_log" >&2 || true
    if [ "$live_status" != 0 ]; then cat "$live_log" >&2; exit 1; fi
    rm -f "$live_log"
  )
elif [ "$TALLY_TEST_REQUIRE" = 1 ]; then
  echo "no Slurm 24.11 testbed (.tally/slurm-24.11.env): make test needs root to start it" >&2
  exit 1
fi

say "soak (short: 50 people for 20 s; make soak runs 200 for 5 minutes)"
soak_log=$(mktemp)
soak_status=0
TALLY_SOAK=20s TALLY_SOAK_USERS=50 go test -count=1 -run '^TestSoak$' -v ./web/ >"$soak_log" 2>&1 || soak_status=$?
grep -E '^\s+(soak:|\||scheduled)|^(--- |ok|FAIL)' "$soak_log" >&2 || true
if [ "$soak_status" != 0 ]; then cat "$soak_log" >&2; exit 1; fi
rm -f "$soak_log"

say "fuzz (brief)"
"$root/scripts/fuzz.sh"

# Known vulnerabilities in the modules Tally uses. govulncheck installs
# from the module proxy; its database (vuln.go.dev) may be out of reach on
# closed networks, which is reported, not failed.
say "govulncheck"
if vout=$(go run golang.org/x/vuln/cmd/govulncheck@v1.9.0 ./... 2>&1); then
  echo "$vout" | tail -n 3
elif echo "$vout" | grep -qE "fetching vulnerabilities|no such host|dial tcp|proxy"; then
  echo "govulncheck: vulnerability database unreachable from here; skipped ($(echo "$vout" | tail -n 1))" >&2
else
  echo "$vout" >&2
  exit 1
fi
