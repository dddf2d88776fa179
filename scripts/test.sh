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
say "fuzz (brief)"
"$root/scripts/fuzz.sh"
