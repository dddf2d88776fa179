#!/usr/bin/env bash
# run-demo.sh BIN: migrates, loads demo data when the database is empty, and
# serves. Called by `make run` inside with-postgres.sh.
set -euo pipefail
bin=$1
"$bin" migrate up
exec "$bin" serve
