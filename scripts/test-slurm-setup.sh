#!/usr/bin/env bash
# test-slurm-setup.sh: starts the project's real single-node Slurm testbed
# (test/slurm/22.05, root only) and writes .tally/slurm-22.05.env, and
# .tally/slurm-test.env for the live tests. Without root the live tests
# skip, or fail under TALLY_TEST_REQUIRE=1. `make testbed` runs it alone.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
testbed=${SLURM_TESTBED_SRC:-$root/test/slurm/22.05}
mkdir -p "$root/.tally"
rm -f "$root/.tally/slurm-test.env" "$root/.tally/slurm-22.05.env"
if [ ! -x "$testbed/up.sh" ]; then
  echo "test-slurm-setup: no testbed at $testbed; live Slurm tests will not run" >&2
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "test-slurm-setup: the testbed needs root; live Slurm tests will not run" >&2
  exit 0
fi
"$testbed/up.sh" >&2
env="$root/.tally/slurm-22.05.env"
cp "${SLURM_TESTBED_DIR:-/tmp/slurm-testbed}/env.sh" "$env"
echo "export SLURM_TESTBED_UP=$(cd "$testbed" && pwd)/up.sh" >> "$env"
cp "$env" "$root/.tally/slurm-test.env"
echo "test-slurm-setup: Slurm 22.05 testbed up; source $env to use it" >&2
