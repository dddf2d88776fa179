#!/usr/bin/env bash
# down.sh: stops the Slurm 24.11 testbed (../22.05/down.sh with this
# release's settings; --purge also deletes its state and database).
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=env.sh
. "$HERE/env.sh"
exec "$HERE/../22.05/down.sh" "$@"
