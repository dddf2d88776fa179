#!/usr/bin/env bash
# test-pam-setup.sh: Unix users with known passwords and a PAM service for
# the login tests (root only; idempotent). The names and passwords are
# repeated in web/pamauth/pamauth_test.go and web/auth_live_test.go.
#
#   tally-t-alice    password tally-alice-pw   ordinary user
#   tally-t-expired  password tally-expired-pw account expired (chage -E 0)
#   tally-t-locked   password tally-locked-pw  password locked (passwd -l)
#   tally-t-admin    password tally-admin-pw   member of tally-admin
#   tally-t-fin      password tally-fin-pw     member of tally-finance
#   tally-t-coord    password tally-coord-pw   (made coordinator by the tests)
#   alice (Slurm testbed user, when present)  password tally-alice-pw
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "test-pam-setup: needs root" >&2; exit 1; }

for g in tally-admin tally-finance; do getent group "$g" >/dev/null || groupadd "$g"; done

mkuser() { # name password [group]
  id "$1" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$1"
  echo "$1:$2" | chpasswd
  usermod -U "$1" 2>/dev/null || true
  chage -E -1 "$1"
  [ -z "${3:-}" ] || usermod -a -G "$3" "$1"
}
mkuser tally-t-alice tally-alice-pw
mkuser tally-t-expired tally-expired-pw
chage -E 0 tally-t-expired
mkuser tally-t-locked tally-locked-pw
passwd -l tally-t-locked >/dev/null
mkuser tally-t-admin tally-admin-pw tally-admin
mkuser tally-t-fin tally-fin-pw tally-finance
mkuser tally-t-coord tally-coord-pw
if id alice >/dev/null 2>&1; then echo "alice:tally-alice-pw" | chpasswd; fi

# nodelay: pam_unix otherwise sleeps ~2 s after each failure, which is right
# in production (docs/pam.d/tally) and only slows the tests.
cat > /etc/pam.d/tally-test <<'PAM'
auth     required  pam_unix.so nodelay
account  required  pam_unix.so
PAM
echo "test-pam-setup: users and /etc/pam.d/tally-test ready" >&2
