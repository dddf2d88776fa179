#!/usr/bin/env bash
# run-demo.sh BIN: migrates and serves. Called by `make run` inside
# with-postgres.sh. Installs the example PAM service when run as root on a
# machine without one, so people can sign in with their Unix password.
set -euo pipefail
bin=$1
root=$(cd "$(dirname "$0")/.." && pwd)
service=${TALLY_PAM_SERVICE:-tally}
if [ ! -e "/etc/pam.d/$service" ] && [ "$(id -u)" = 0 ]; then
  echo "run-demo: installing $root/docs/pam.d/tally as /etc/pam.d/$service" >&2
  install -m 0644 "$root/docs/pam.d/tally" "/etc/pam.d/$service"
fi
"$bin" migrate up
echo "run-demo: Tally at http://${TALLY_ADDR:-127.0.0.1:8080} (Ctrl-C stops it)" >&2
exec "$bin" serve
