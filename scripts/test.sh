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

if [ "$(id -u)" = 0 ] && [ -x "$root/scripts/test-pam-setup.sh" ]; then
  say "PAM test users and service"
  "$root/scripts/test-pam-setup.sh"
fi

if [ -x "$root/scripts/test-slurm-setup.sh" ]; then
  say "Slurm testbed"
  "$root/scripts/test-slurm-setup.sh"
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
