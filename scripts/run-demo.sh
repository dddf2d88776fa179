#!/usr/bin/env bash
# run-demo.sh BIN: the demo `make run` starts, inside with-postgres.sh.
# Loads a synthetic cluster on first start; TALLY_DEMO_ARGS passes flags
# (e.g. "--reset").
set -euo pipefail
bin=$1
exec "$bin" demo ${TALLY_DEMO_ARGS:-}
