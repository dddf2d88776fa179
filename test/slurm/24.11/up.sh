#!/usr/bin/env bash
# up.sh: a single-node Slurm 24.11 testbed beside the 22.05 one. Builds
# Slurm 24.11 once (build.sh), then runs ../22.05/up.sh with this
# release's prefix, ports, state dir and database (env.sh). Root only;
# safe to run again. Options are up.sh's (--help).
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
case "${1:-}" in -h | --help)
	sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'
	exit 0 ;;
esac
"$HERE/build.sh"
# shellcheck source=env.sh
. "$HERE/env.sh"
exec "$HERE/../22.05/up.sh" "$@"
