#!/usr/bin/env bash
# test-slurm-setup.sh: starts the real single-node Slurm testbed from
# ../shared/slurm-testbed (root only) and writes .tally/slurm-test.env for
# the live tests. Without the testbed the live tests skip, or fail under
# TALLY_TEST_REQUIRE=1.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
testbed=${SLURM_TESTBED_SRC:-$root/../shared/slurm-testbed}
mkdir -p "$root/.tally"
rm -f "$root/.tally/slurm-test.env"
if [ ! -x "$testbed/up.sh" ]; then
  echo "test-slurm-setup: no testbed at $testbed; live Slurm tests will not run" >&2
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "test-slurm-setup: the testbed needs root; live Slurm tests will not run" >&2
  exit 0
fi
"$testbed/up.sh" >&2
cp "${SLURM_TESTBED_DIR:-/tmp/slurm-testbed}/env.sh" "$root/.tally/slurm-test.env"
echo "export SLURM_TESTBED_UP=$(cd "$testbed" && pwd)/up.sh" >> "$root/.tally/slurm-test.env"
