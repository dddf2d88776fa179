#!/usr/bin/env bash
# test-slurm-setup.sh: starts the project's real single-node Slurm testbeds
# (root only): Slurm 22.05 from Debian's packages (test/slurm/22.05) and
# Slurm 24.11 built from the upstream tarball once per machine
# (test/slurm/24.11), side by side. Writes .tally/slurm-22.05.env and
# .tally/slurm-24.11.env (SLURMRESTD_URL, SLURM_JWT_KEY, SLURM_CONF,
# SLURM_CLUSTER, SLURM_BIN, ...), and .tally/slurm-test.env (22.05) for the
# live tests. Without root the live tests skip, or fail under
# TALLY_TEST_REQUIRE=1. `make testbed` runs it alone.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
case "${1:-}" in -h | --help)
	sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
	exit 0 ;;
esac
mkdir -p "$root/.tally"
rm -f "$root/.tally/slurm-test.env" "$root/.tally/slurm-22.05.env" "$root/.tally/slurm-24.11.env"
if [ "$(id -u)" != 0 ]; then
  echo "test-slurm-setup: the testbeds need root; live Slurm tests will not run" >&2
  exit 0
fi
# up RELEASE STATE_DIR: starts one testbed and writes its env file.
up() {
  local release=$1 state=$2 began=$SECONDS
  SLURM_TESTBED_DIR=$state "$root/test/slurm/$release/up.sh" >&2
  local env="$root/.tally/slurm-$release.env"
  cp "$state/env.sh" "$env"
  echo "export SLURM_TESTBED_UP=$root/test/slurm/$release/up.sh" >>"$env"
  echo "test-slurm-setup: Slurm $release testbed up in $((SECONDS - began)) s; source $env to use it" >&2
}
up 22.05 "${SLURM_TESTBED_DIR:-/tmp/slurm-testbed}"
cp "$root/.tally/slurm-22.05.env" "$root/.tally/slurm-test.env"
up 24.11 "${SLURM_TESTBED_2411_DIR:-/tmp/slurm-testbed-24.11}"
