#!/usr/bin/env bash
# up.sh - bring up a disposable, single-node Slurm 22.05 cluster on Debian 12:
#   munged, MariaDB, slurmdbd (accounting_storage/mysql), slurmctld, slurmd (one
#   node, no cgroups) and slurmrestd (JWT, 127.0.0.1:6820), plus unix users and
#   Slurm accounts for tests.  Run as root.  Idempotent: run it again at any time;
#   it starts only what is not running and restarts the Slurm daemons when the
#   generated configuration changed.  See README.md next to this file.
set -Eeuo pipefail

usage() {
	cat <<'EOF'
Usage: up.sh [--no-install] [--reset] [-h|--help]

Starts (or checks) a single-node Slurm 22.05 testbed on this machine and prints
where everything is.  Must run as root.  Safe to run repeatedly.

Options:
  --no-install   fail instead of running apt-get when packages are missing
  --reset        run down.sh --purge first (wipe state dir and accounting DB)
  -h, --help     show this help

Environment (defaults in brackets):
  SLURM_TESTBED_DIR           state dir: configs, logs, spool, pids [/tmp/slurm-testbed]
  SLURM_TESTBED_CLUSTER       ClusterName [testbed]
  SLURM_TESTBED_NODE          NodeName of the single node [node01]
  SLURM_TESTBED_CPUS          CPUs the node advertises (oversubscribes real cores) [8]
  SLURM_TESTBED_MEM_MB        RealMemory of the node in MB (not enforced) [16000]
  SLURM_TESTBED_GPUS          count-only gres/gpu on the node, 0 = none [2]
  SLURM_TESTBED_GPU_TYPE      a type for those GPUs (gres/gpu:TYPE), empty = untyped []
  SLURM_TESTBED_PRIVATE_DATA  PrivateData for slurmctld and slurmdbd; empty = Slurm
                              default, everybody sees every job [jobs,usage]
  SLURM_TESTBED_REST_ADDR     slurmrestd listen address [127.0.0.1:6820]
  SLURM_TESTBED_CTLD_PORT / _SLURMD_PORT / _DBD_PORT   [6817 / 6818 / 6819]
  SLURM_TESTBED_DB            MariaDB database for slurmdbd, also the name of its
                              MariaDB user [slurm_testbed_acct]
  SLURM_TESTBED_MYSQL_HOST / _PORT   MariaDB to use or start [127.0.0.1 / 3306]
  SLURM_TESTBED_MYSQL_ROOT_PASSWORD  root password of an existing MariaDB [empty]
  SLURM_TESTBED_LINK_ETC      1 = make /etc/slurm/slurm.conf a symlink to the testbed
                              config so plain `sacct` works (only if that path is
                              free or already such a symlink) [1, 0 with a prefix]
  SLURM_TESTBED_PREFIX        a Slurm installed under this prefix instead of
                              Debian's packages (test/slurm/24.11 builds one) [empty]
  SLURM_TESTBED_API           the REST API version the checks call [v0.0.38]
  SLURM_TESTBED_REST_PLUGINS  slurmrestd's -s list [the 22.05 v0.0.36-38 plugins]
EOF
}

NO_INSTALL=0
RESET=0
for arg in "$@"; do
	case "$arg" in
	--no-install) NO_INSTALL=1 ;;
	--reset) RESET=1 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "up.sh: unknown argument: $arg (try --help)" >&2; exit 2 ;;
	esac
done

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STATE=${SLURM_TESTBED_DIR:-/tmp/slurm-testbed}
CLUSTER=${SLURM_TESTBED_CLUSTER:-testbed}
NODE=${SLURM_TESTBED_NODE:-node01}
CPUS=${SLURM_TESTBED_CPUS:-8}
MEM_MB=${SLURM_TESTBED_MEM_MB:-16000}
GPUS=${SLURM_TESTBED_GPUS:-2}
PRIVATE_DATA=${SLURM_TESTBED_PRIVATE_DATA-jobs,usage}
REST_ADDR=${SLURM_TESTBED_REST_ADDR:-127.0.0.1:6820}
CTLD_PORT=${SLURM_TESTBED_CTLD_PORT:-6817}
SLURMD_PORT=${SLURM_TESTBED_SLURMD_PORT:-6818}
DBD_PORT=${SLURM_TESTBED_DBD_PORT:-6819}
DB_NAME=${SLURM_TESTBED_DB:-slurm_testbed_acct}
DB_USER=${DB_NAME:0:80} # one MariaDB user per database, so two testbeds never share a password
MYSQL_HOST=${SLURM_TESTBED_MYSQL_HOST:-127.0.0.1}
MYSQL_PORT=${SLURM_TESTBED_MYSQL_PORT:-3306}
LINK_ETC=${SLURM_TESTBED_LINK_ETC:-1}

ETC=$STATE/etc
LOG=$STATE/log
PIDS=$STATE/pids
SPOOL=$STATE/spool
JOBS=$STATE/jobs
export SLURM_CONF=$ETC/slurm.conf
REST_PORT=${REST_ADDR##*:}
REST_URL=http://$REST_ADDR

PACKAGES=(munge slurmctld slurmd slurmdbd slurmrestd slurm-client
	slurm-wlm-jwt-plugin slurm-wlm-mysql-plugin mariadb-server curl openssl)
PREFIX=${SLURM_TESTBED_PREFIX:-}
API=${SLURM_TESTBED_API:-v0.0.38}
REST_PLUGINS=${SLURM_TESTBED_REST_PLUGINS:-openapi/v0.0.36,openapi/v0.0.37,openapi/v0.0.38,openapi/dbv0.0.36,openapi/dbv0.0.37,openapi/dbv0.0.38}
if [[ -n $PREFIX ]]; then
	# A Slurm built from source: its binaries first on PATH; Debian gives
	# only what it runs beside (munge, MariaDB, the libraries it links).
	export PATH=$PREFIX/bin:$PREFIX/sbin:$PATH
	PACKAGES=(munge mariadb-server curl openssl libjwt0 libjson-c5 libhttp-parser2.9 libyaml-0-2 libmariadb3)
	LINK_ETC=${SLURM_TESTBED_LINK_ETC:-0}
fi
TEST_USERS=(alice bob tally)

# ---------------------------------------------------------------- helpers
T0=${EPOCHREALTIME/./}
log() {
	local now=${EPOCHREALTIME/./}
	local ms=$(((now - T0) / 1000))
	printf '[up %3d.%01ds] %s\n' $((ms / 1000)) $(((ms % 1000) / 100)) "$*"
}
die() {
	printf '[up] ERROR: %s\n' "$*" >&2
	exit 1
}
# shellcheck disable=SC2154 # rc is assigned inside the trap string
trap 'rc=$?; printf "[up] ERROR: command failed (exit %s) at line %s: %s\n" "$rc" "$LINENO" "$BASH_COMMAND" >&2; exit 1' ERR

# show_log FILE: print the end of a log file to stderr (used before dying)
show_log() {
	[[ -f $1 ]] || return 0
	echo "----- last lines of $1 -----" >&2
	tail -n 25 "$1" >&2 || true
	echo "-----" >&2
}

# wait_until SECONDS DESCRIPTION LOGFILE CMD... : poll CMD every 0.5s
wait_until() {
	local secs=$1 what=$2 logf=$3
	shift 3
	local deadline=$((SECONDS + secs))
	while ! "$@" >/dev/null 2>&1; do
		if ((SECONDS >= deadline)); then
			show_log "$logf"
			die "$what did not come up within ${secs}s"
		fi
		sleep 0.5
	done
}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# who_listens PORT: best-effort description of the process on a TCP port
who_listens() {
	command -v ss >/dev/null 2>&1 && ss -ltnpH "sport = :$1" 2>/dev/null | head -n 3 || true
}

exe_of() { readlink -f "$(command -v "$1")"; }

# running NAME EXE: true if $PIDS/NAME.pid holds a live process running EXE
running() {
	local f=$PIDS/$1.pid pid
	[[ -s $f ]] || return 1
	pid=$(<"$f")
	[[ $pid =~ ^[0-9]+$ && -d /proc/$pid ]] || return 1
	[[ $(readlink -f "/proc/$pid/exe" 2>/dev/null) == "$2" ]]
}

# stop_pid NAME EXE: SIGTERM the process recorded for NAME (if it still runs EXE)
stop_pid() {
	local name=$1 exe=$2 pid i
	running "$name" "$exe" || { rm -f "$PIDS/$name.pid"; return 0; }
	pid=$(<"$PIDS/$name.pid")
	log "stopping $name (pid $pid)"
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 60; i++)); do
		[[ -d /proc/$pid ]] || break
		sleep 0.5
	done
	if [[ -d /proc/$pid ]]; then
		log "$name did not exit after 30s, sending SIGKILL to pid $pid"
		kill -KILL "$pid" 2>/dev/null || true
		sleep 1
	fi
	rm -f "$PIDS/$name.pid"
}

# start_bg NAME CMD...: start CMD in its own session, stdio to $LOG/NAME.out,
# record its pid.  setsid execs directly (we are never a process-group leader
# here), and so do setpriv and env, so $! is the daemon itself.
start_bg() {
	local name=$1
	shift
	echo "=== $(date -Is) starting: $*" >>"$LOG/$name.out"
	setsid "$@" </dev/null >>"$LOG/$name.out" 2>&1 9>&- &
	echo $! >"$PIDS/$name.pid"
	sleep 0.3
	if ! [[ -d /proc/$! ]]; then
		show_log "$LOG/$name.out"
		show_log "$LOG/$name.log"
		die "$name exited immediately after start (see $LOG/$name.out and $LOG/$name.log)"
	fi
}

# require_port_free PORT NAME: die if something we did not start listens there
require_port_free() {
	if port_open 127.0.0.1 "$1"; then
		die "port $1 (needed by $2) is already in use by a process this testbed did not start: $(who_listens "$1"). Stop it or choose another port (see --help)."
	fi
}

# --------------------------------------------------------------- preflight
[[ $(id -u) -eq 0 ]] || die "must run as root (it installs packages, creates users and starts daemons)"
[[ -r /etc/debian_version ]] || die "this script targets Debian 12 (no /etc/debian_version found)"
[[ $STATE == /* && $STATE != / ]] || die "SLURM_TESTBED_DIR must be an absolute path other than / (got '$STATE')"

# Serialise concurrent runs (e.g. several test packages calling up.sh at once).
mkdir -p "$(dirname "$STATE")"
exec 9>"$STATE.lock"
if ! flock -w 300 9; then
	die "another up.sh/down.sh holds $STATE.lock for more than 300s"
fi
export SLURM_TESTBED_LOCKED=1 # down.sh --purge (from --reset) must not wait for our lock

if ((RESET)); then
	log "--reset: purging previous testbed state"
	SLURM_TESTBED_DIR=$STATE "$HERE/down.sh" --purge
fi

log "Slurm testbed: state dir $STATE, cluster $CLUSTER, node $NODE"

# ---------------------------------------------------------------- packages
missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	((NO_INSTALL)) && die "missing packages (and --no-install given): ${missing[*]}"
	log "installing packages: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	t=$SECONDS
	apt-get update -qq >"/tmp/slurm-testbed-apt.log" 2>&1 || { cat /tmp/slurm-testbed-apt.log >&2; die "apt-get update failed"; }
	apt-get install -y -q --no-install-recommends "${missing[@]}" >>"/tmp/slurm-testbed-apt.log" 2>&1 ||
		{ tail -n 30 /tmp/slurm-testbed-apt.log >&2; die "apt-get install failed (full log: /tmp/slurm-testbed-apt.log)"; }
	log "packages installed in $((SECONDS - t))s"
else
	log "packages already installed: ${PACKAGES[*]}"
fi
if [[ -n $PREFIX ]]; then
	[[ -x $PREFIX/sbin/slurmctld ]] || die "no Slurm under $PREFIX (SLURM_TESTBED_PREFIX): build it first"
	SLURM_VERSION=$("$PREFIX/sbin/slurmctld" -V | awk '{print $2}')
	if ! id slurm >/dev/null 2>&1; then
		useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin --user-group slurm
		log "created system user slurm"
	fi
else
	SLURM_VERSION=$(dpkg-query -W -f='${Version}' slurmctld)
fi
log "slurm version $SLURM_VERSION"

SLURMCTLD_EXE=$(exe_of slurmctld)
SLURMD_EXE=$(exe_of slurmd)
SLURMDBD_EXE=$(exe_of slurmdbd)
SLURMRESTD_EXE=$(exe_of slurmrestd)
MARIADBD_EXE=$(readlink -f /usr/sbin/mariadbd)
# Start the daemons by their plain names: Debian installs slurmctld/slurmd as
# alternatives symlinks to *-wlm binaries, and Slurm decides "am I slurmctld?"
# from argv[0]; started as slurmctld-wlm it segfaults at its first slurmdbd RPC.
SLURMCTLD_BIN=$(command -v slurmctld)
SLURMD_BIN=$(command -v slurmd)
SLURMDBD_BIN=$(command -v slurmdbd)
SLURMRESTD_BIN=$(command -v slurmrestd)

# ------------------------------------------------------------- users/dirs
for u in "${TEST_USERS[@]}"; do
	if ! id "$u" >/dev/null 2>&1; then
		useradd --create-home --shell /bin/bash --user-group "$u"
		log "created unix user $u"
	fi
done
if ! id slurmrestd >/dev/null 2>&1; then
	# slurmrestd refuses to run as root or as SlurmUser
	useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin --user-group slurmrestd
	log "created system user slurmrestd"
fi

install -d -m 0755 "$STATE" "$ETC" "$PIDS" "$SPOOL"
install -d -m 0755 -o slurm -g slurm "$LOG" "$SPOOL/ctld" "$STATE/run"
install -d -m 0755 "$SPOOL/slurmd"
install -d -m 1777 "$JOBS"

# JWT HS256 key: 32 random bytes, read by slurmctld/slurmdbd (as slurm) and by
# whoever mints tokens (root).
if [[ ! -s $ETC/jwt_hs256.key ]]; then
	dd if=/dev/urandom of="$ETC/jwt_hs256.key" bs=32 count=1 status=none
	log "generated JWT HS256 key $ETC/jwt_hs256.key"
fi
chown slurm:slurm "$ETC/jwt_hs256.key"
chmod 0600 "$ETC/jwt_hs256.key"

# Also an RSA key and its JWKS, so RS256 tokens signed with the private
# key (Tally's TALLY_JWT_ALG=RS256) are accepted beside HS256 ones. The kid
# is Tally's: base64url of the first 16 bytes of SHA-256 over the PKCS#1
# public key.
JWT_PARAMS="jwt_key=$ETC/jwt_hs256.key"
if [[ ! -s $ETC/jwt_rs256.pem ]]; then
	openssl genrsa -out "$ETC/jwt_rs256.pem" 2048 2>/dev/null
	log "generated RS256 key $ETC/jwt_rs256.pem"
fi
chmod 0600 "$ETC/jwt_rs256.pem"
kid=$(openssl rsa -in "$ETC/jwt_rs256.pem" -RSAPublicKey_out -outform DER 2>/dev/null | openssl dgst -sha256 -binary | head -c 16 | basenc --base64url | tr -d '=')
n=$(openssl rsa -in "$ETC/jwt_rs256.pem" -noout -modulus | cut -d= -f2 | perl -ne 'chomp; print pack("H*", $_)' | basenc --base64url -w0 | tr -d '=')
printf '{"keys":[{"kid":"%s","kty":"RSA","alg":"RS256","use":"sig","n":"%s","e":"AQAB"}]}\n' "$kid" "$n" >"$ETC/jwks.json.new"
if cmp -s "$ETC/jwks.json.new" "$ETC/jwks.json"; then rm -f "$ETC/jwks.json.new"; else mv -f "$ETC/jwks.json.new" "$ETC/jwks.json"; fi
chown slurm:slurm "$ETC/jwks.json"
chmod 0644 "$ETC/jwks.json"
JWT_PARAMS="$JWT_PARAMS,jwks=$ETC/jwks.json"
RS256_EXPORT="export SLURM_JWT_RS256_KEY=$ETC/jwt_rs256.pem"

if [[ ! -s $ETC/db.pass ]]; then
	head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$ETC/db.pass"
	chmod 0600 "$ETC/db.pass"
fi
DB_PASS=$(<"$ETC/db.pass")

# ------------------------------------------------------------------ munge
munge_ok() { munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }
if munge_ok; then
	log "munged: already answering on its default socket"
else
	log "munged: starting"
	if [[ ! -s /etc/munge/munge.key ]]; then
		install -d -m 0700 -o munge -g munge /etc/munge
		dd if=/dev/urandom of=/etc/munge/munge.key bs=128 count=1 status=none
		log "munged: generated /etc/munge/munge.key"
	fi
	chown munge:munge /etc/munge/munge.key
	chmod 0400 /etc/munge/munge.key
	install -d -m 0755 -o munge -g munge /run/munge
	install -d -m 0700 -o munge -g munge /var/lib/munge /var/log/munge
	# munged daemonizes itself and writes /run/munge/munged.pid
	setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged </dev/null >>"$LOG/munged.out" 2>&1 9>&- ||
		{ show_log "$LOG/munged.out"; show_log /var/log/munge/munged.log; die "munged failed to start"; }
	wait_until 20 munged /var/log/munge/munged.log munge_ok
	cp /run/munge/munged.pid "$PIDS/munged.pid"
	touch "$PIDS/munged.started-by-testbed"
	log "munged: up (pid $(<"$PIDS/munged.pid"))"
fi

# ---------------------------------------------------------------- MariaDB
MYSQL_ADMIN=()
export MYSQL_PWD=${SLURM_TESTBED_MYSQL_ROOT_PASSWORD-}
detect_mysql_admin() {
	# 1) local socket as root (Debian default: unix_socket authentication)
	if mysql --protocol=socket -uroot -e 'SELECT 1' >/dev/null 2>&1; then
		MYSQL_ADMIN=(mysql --protocol=socket -uroot)
		return 0
	fi
	# 2) TCP as root with empty (or given) password, e.g. a container on 3306
	if mysql --protocol=tcp -h"$MYSQL_HOST" -P"$MYSQL_PORT" -uroot -e 'SELECT 1' >/dev/null 2>&1; then
		MYSQL_ADMIN=(mysql --protocol=tcp -h"$MYSQL_HOST" -P"$MYSQL_PORT" -uroot)
		return 0
	fi
	return 1
}
if detect_mysql_admin; then
	log "MariaDB: already running (admin via ${MYSQL_ADMIN[*]})"
elif port_open "$MYSQL_HOST" "$MYSQL_PORT"; then
	die "something listens on $MYSQL_HOST:$MYSQL_PORT but refuses root login; set SLURM_TESTBED_MYSQL_ROOT_PASSWORD ($(who_listens "$MYSQL_PORT"))"
else
	log "MariaDB: starting /usr/sbin/mariadbd"
	install -d -m 0755 -o mysql -g mysql /run/mysqld
	if [[ ! -d /var/lib/mysql/mysql ]]; then
		log "MariaDB: initialising /var/lib/mysql"
		install -d -m 0755 -o mysql -g mysql /var/lib/mysql
		mariadb-install-db --user=mysql --datadir=/var/lib/mysql >>"$LOG/mariadb.out" 2>&1 ||
			{ show_log "$LOG/mariadb.out"; die "mariadb-install-db failed"; }
	fi
	touch "$LOG/mariadb.err"
	chown mysql:mysql "$LOG/mariadb.err"
	start-stop-daemon --start --oknodo --background --make-pidfile --pidfile "$PIDS/mariadb.pid" \
		--exec "$MARIADBD_EXE" -- --user=mysql --bind-address="$MYSQL_HOST" --port="$MYSQL_PORT" \
		--log-error="$LOG/mariadb.err" </dev/null 9>&- ||
		die "start-stop-daemon could not start mariadbd"
	touch "$PIDS/mariadb.started-by-testbed"
	wait_until 60 MariaDB "$LOG/mariadb.err" detect_mysql_admin
	detect_mysql_admin
	log "MariaDB: up (pid $(<"$PIDS/mariadb.pid"))"
fi
"${MYSQL_ADMIN[@]}" <<SQL || die "could not create database $DB_NAME / user $DB_USER"
CREATE DATABASE IF NOT EXISTS \`$DB_NAME\`;
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASS';
CREATE USER IF NOT EXISTS '$DB_USER'@'%' IDENTIFIED BY '$DB_PASS';
ALTER USER '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASS';
ALTER USER '$DB_USER'@'%' IDENTIFIED BY '$DB_PASS';
GRANT ALL PRIVILEGES ON \`$DB_NAME\`.* TO '$DB_USER'@'localhost';
GRANT ALL PRIVILEGES ON \`$DB_NAME\`.* TO '$DB_USER'@'%';
FLUSH PRIVILEGES;
SQL
log "MariaDB: database $DB_NAME and user $DB_USER ready"

# ---------------------------------------------------------------- configs
# write_conf FILE: stdin -> FILE, only touching FILE if the content differs
write_conf() {
	local f=$1 tmp
	tmp=$(mktemp "$f.XXXX")
	cat >"$tmp"
	if [[ -f $f ]] && cmp -s "$tmp" "$f"; then
		rm -f "$tmp"
	else
		mv -f "$tmp" "$f"
		chmod 0644 "$f"
		log "wrote $f"
	fi
}

GRES_NODE=""
GRES_TYPES=""
TRES="cpu,mem,node,billing"
GPU_WEIGHT=""
GPU_TYPE=${SLURM_TESTBED_GPU_TYPE:-}
if ((GPUS > 0)); then
	GRES_NODE=" Gres=gpu:$GPUS"
	GRES_TYPES="GresTypes=gpu"
	TRES="$TRES,gres/gpu"
	if [[ -n $GPU_TYPE ]]; then
		GRES_NODE=" Gres=gpu:$GPU_TYPE:$GPUS"
		TRES="$TRES,gres/gpu:$GPU_TYPE"
	fi
	GPU_WEIGHT=",GRES/gpu=10.0"
fi
# A new state dir next to an accounting DB that already holds jobs of this
# cluster would restart job ids at 1 and create duplicate JobIDRaw values;
# continue after the highest id the DB knows instead.
if [[ ! -s $ETC/first_job_id ]]; then
	max_id=$("${MYSQL_ADMIN[@]}" -N -B -e "SELECT COALESCE(MAX(id_job),0) FROM \`$DB_NAME\`.\`${CLUSTER}_job_table\`" 2>/dev/null || echo 0)
	[[ $max_id =~ ^[0-9]+$ ]] || max_id=0
	echo $((max_id + 1)) >"$ETC/first_job_id"
	if ((max_id > 0)); then
		log "accounting DB already holds jobs up to id $max_id: FirstJobId=$((max_id + 1))"
	fi
fi
FIRST_JOB_ID=$(<"$ETC/first_job_id")
unset MYSQL_PWD # not needed any more; keep it out of the daemons' environment
# switch/none is gone since 23.11 (no SwitchType is the same thing).
SWITCH_LINE="SwitchType=switch/none"
[[ -n $PREFIX ]] && SWITCH_LINE="#SwitchType (none)"
PD_LINE="#PrivateData= (unset: every user sees every job)"
[[ -n $PRIVATE_DATA ]] && PD_LINE="PrivateData=$PRIVATE_DATA"

write_conf "$ETC/slurm.conf" <<EOF
# Generated by slurm-testbed/up.sh - edits are overwritten.
ClusterName=$CLUSTER
SlurmctldHost=localhost
SlurmUser=slurm
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
AuthType=auth/munge
CredType=cred/munge
AuthAltTypes=auth/jwt
AuthAltParameters=$JWT_PARAMS
StateSaveLocation=$SPOOL/ctld
SlurmdSpoolDir=$SPOOL/slurmd
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$ETC/plugstack.conf
# no cgroups: plain /proc based process tracking, no task binding
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=5
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
MpiDefault=none
$SWITCH_LINE
# the node may advertise more CPUs/memory than the machine has
SlurmdParameters=config_overrides
ReturnToService=2
KillWait=5
MinJobAge=600
FirstJobId=$FIRST_JOB_ID
InactiveLimit=0
Waittime=0
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$DBD_PORT
AccountingStorageEnforce=associations,limits,qos
AccountingStorageTRES=$TRES
JobCompType=jobcomp/none
$PD_LINE
$GRES_TYPES
NodeName=$NODE NodeAddr=127.0.0.1 NodeHostname=localhost CPUs=$CPUS Boards=1 SocketsPerBoard=1 CoresPerSocket=$CPUS ThreadsPerCore=1 RealMemory=$MEM_MB$GRES_NODE State=UNKNOWN
PartitionName=cpu Nodes=$NODE Default=YES MaxTime=60 DefMemPerCPU=1000 State=UP TRESBillingWeights="CPU=1.0,Mem=0.25G"
PartitionName=gpu Nodes=$NODE MaxTime=60 DefMemPerCPU=1000 State=UP TRESBillingWeights="CPU=1.0,Mem=0.25G$GPU_WEIGHT"
EOF

write_conf "$ETC/plugstack.conf" <<EOF
# Generated by slurm-testbed/up.sh: no SPANK plugins.
EOF

if ((GPUS > 0)); then
	# Slurm 22.05 discards GPUs without File= ("config-only GPU"), so point File
	# at symlinks to /dev/null: gres/gpu is then schedulable and accounted
	# without real hardware (nothing is constrained: no cgroups).
	install -d -m 0755 "$STATE/dev"
	for ((i = 0; i < GPUS; i++)); do ln -sfn /dev/null "$STATE/dev/gpu$i"; done
	write_conf "$ETC/gres.conf" <<EOF
# Generated by slurm-testbed/up.sh: fake GPUs (symlinks to /dev/null).
AutoDetect=off
NodeName=$NODE Name=gpu${GPU_TYPE:+ Type=$GPU_TYPE} File=$STATE/dev/gpu[0-$((GPUS - 1))]
EOF
else
	rm -f "$ETC/gres.conf"
fi

write_conf "$ETC/slurmdbd.conf" <<EOF
# Generated by slurm-testbed/up.sh - edits are overwritten.
AuthType=auth/munge
AuthAltTypes=auth/jwt
AuthAltParameters=$JWT_PARAMS
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=slurm
DebugLevel=info
LogFile=$LOG/slurmdbd.log
PidFile=$STATE/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=$MYSQL_HOST
StoragePort=$MYSQL_PORT
StorageUser=$DB_USER
StoragePass=$DB_PASS
StorageLoc=$DB_NAME
$PD_LINE
EOF
chown slurm:slurm "$ETC/slurmdbd.conf"
chmod 0600 "$ETC/slurmdbd.conf"

# Hash of everything the daemons read.  Daemons still running with another
# (or an unknown) configuration are restarted.
conf_files=("$ETC/slurm.conf" "$ETC/slurmdbd.conf" "$ETC/plugstack.conf" "$ETC/jwt_hs256.key")
[[ -f $ETC/jwks.json ]] && conf_files+=("$ETC/jwks.json")
[[ -f $ETC/gres.conf ]] && conf_files+=("$ETC/gres.conf")
CONF_HASH=$(cat "${conf_files[@]}" | sha256sum | cut -c1-16)
OLD_HASH=$(cat "$STATE/config.hash" 2>/dev/null || true)
if [[ $OLD_HASH != "$CONF_HASH" ]]; then
	if running slurmrestd "$SLURMRESTD_EXE" || running slurmd "$SLURMD_EXE" ||
		running slurmctld "$SLURMCTLD_EXE" || running slurmdbd "$SLURMDBD_EXE"; then
		log "configuration changed since the Slurm daemons were started: restarting them"
		stop_pid slurmrestd "$SLURMRESTD_EXE"
		stop_pid slurmd "$SLURMD_EXE"
		stop_pid slurmctld "$SLURMCTLD_EXE"
		stop_pid slurmdbd "$SLURMDBD_EXE"
	fi
	echo "$CONF_HASH" >"$STATE/config.hash"
fi

if [[ $LINK_ETC == 1 ]]; then
	etc_conf=/etc/slurm/slurm.conf
	cur=$(readlink "$etc_conf" 2>/dev/null || true)
	if [[ $cur == "$ETC/slurm.conf" ]]; then
		: # already ours
	elif [[ ! -e $etc_conf ]]; then # absent, or a dangling symlink
		mkdir -p /etc/slurm
		ln -sfn "$ETC/slurm.conf" "$etc_conf"
		log "linked $etc_conf -> $ETC/slurm.conf"
	elif [[ -L $etc_conf ]]; then
		log "note: $etc_conf points to $cur (another testbed?); not changing it. Use SLURM_CONF=$ETC/slurm.conf"
	else
		log "note: $etc_conf is a real file; not replacing it. Use SLURM_CONF=$ETC/slurm.conf"
	fi
fi

# --------------------------------------------------------------- slurmdbd
dbd_ok() { sacctmgr -n -P list cluster format=cluster; }
if running slurmdbd "$SLURMDBD_EXE"; then
	log "slurmdbd: already running (pid $(<"$PIDS/slurmdbd.pid"))"
else
	require_port_free "$DBD_PORT" slurmdbd
	log "slurmdbd: starting"
	start_bg slurmdbd "$SLURMDBD_BIN" -D
fi
wait_until 90 slurmdbd "$LOG/slurmdbd.log" dbd_ok
log "slurmdbd: answering (sacctmgr list cluster)"

# ------------------------------------------------ accounts and associations
# One snapshot of what exists, then add only what is missing (sacctmgr calls
# cost ~0.2s each).
sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER" || {
	sacctmgr -i add cluster "$CLUSTER" >/dev/null
	log "sacctmgr: added cluster $CLUSTER"
}
sacctmgr -n -P list qos format=name | grep -qx high || {
	sacctmgr -i add qos high priority=100 description="high priority" >/dev/null
	log "sacctmgr: added qos high"
}
HAVE_ACCOUNTS=$(sacctmgr -n -P list account format=account)
HAVE_ASSOCS=$(sacctmgr -n -P list assoc where cluster="$CLUSTER" format=account,user,qos,defaultqos)
add_account() { # name description
	grep -qx "$1" <<<"$HAVE_ACCOUNTS" && return 0
	sacctmgr -i add account "$1" cluster="$CLUSTER" description="$2" organization=testbed >/dev/null
	log "sacctmgr: added account $1"
}
add_assoc() { # user account [extra sacctmgr args]
	local u=$1 a=$2
	shift 2
	grep -q "^$a|$u|" <<<"$HAVE_ASSOCS" && return 0
	sacctmgr -i add user "$u" account="$a" cluster="$CLUSTER" "$@" >/dev/null
	log "sacctmgr: added association user=$u account=$a"
}
add_account physics "Department of Physics"
add_account chem "Department of Chemistry"
add_account ops "Operations and service accounts"
add_assoc alice physics defaultaccount=physics
add_assoc alice chem
add_assoc bob chem defaultaccount=chem
add_assoc tally ops defaultaccount=ops adminlevel=operator
HAVE_ASSOCS=$(sacctmgr -n -P list assoc where cluster="$CLUSTER" format=account,user,qos,defaultqos)
if [[ $(grep -cE '^(physics|alice|chem)\|(alice|bob)\|high,normal\|normal$' <<<"$HAVE_ASSOCS") -lt 3 ]]; then
	sacctmgr -i modify user where name=alice,bob cluster="$CLUSTER" set qos=normal,high defaultqos=normal >/dev/null || true
	log "sacctmgr: alice, bob may use qos normal,high (default normal)"
fi
if [[ $(sacctmgr -n -P list user tally format=adminlevel) != Operator ]]; then
	sacctmgr -i modify user tally set adminlevel=operator >/dev/null
	log "sacctmgr: tally is AdminLevel=Operator"
fi
log "sacctmgr: cluster $CLUSTER, accounts physics/chem/ops, users alice/bob/tally present"

# -------------------------------------------------------------- slurmctld
ctld_ok() { scontrol ping | grep -q 'is UP'; }
if running slurmctld "$SLURMCTLD_EXE"; then
	log "slurmctld: already running (pid $(<"$PIDS/slurmctld.pid"))"
else
	require_port_free "$CTLD_PORT" slurmctld
	log "slurmctld: starting"
	start_bg slurmctld "$SLURMCTLD_BIN" -D
fi
wait_until 60 slurmctld "$LOG/slurmctld.log" ctld_ok
log "slurmctld: answering (scontrol ping)"

# ----------------------------------------------------------------- slurmd
if running slurmd "$SLURMD_EXE"; then
	log "slurmd: already running (pid $(<"$PIDS/slurmd.pid"))"
else
	require_port_free "$SLURMD_PORT" slurmd
	log "slurmd: starting as node $NODE"
	start_bg slurmd "$SLURMD_BIN" -D -N "$NODE"
fi
node_state() { sinfo -h -N -n "$NODE" -o '%T' 2>/dev/null | head -n 1; }
node_ready() { [[ $(node_state) =~ ^(idle|mixed|allocated|completing)$ ]]; }
deadline=$((SECONDS + 60))
resumed=0
until node_ready; do
	st=$(node_state)
	if [[ $st == inval* ]]; then
		show_log "$LOG/slurmd.log"
		die "node $NODE is INVALID: $(sinfo -h -N -n "$NODE" -o '%E' | head -n 1) (check $ETC/slurm.conf and gres.conf against the hardware)"
	fi
	if [[ $st =~ drain|down|fail ]] && ((!resumed)) && running slurmd "$SLURMD_EXE"; then
		log "slurmd: node $NODE is '$st' ($(sinfo -h -N -n "$NODE" -o '%E')); resuming it"
		scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true
		resumed=1
	fi
	if ((SECONDS >= deadline)); then
		show_log "$LOG/slurmd.log"
		die "node $NODE did not become idle within 60s (state '$st', reason: $(sinfo -h -N -n "$NODE" -o '%E'))"
	fi
	sleep 0.5
done
log "slurmd: node $NODE is $(node_state)"

# ------------------------------------------------------------- slurmrestd
rest_listening() { curl -s -o /dev/null --max-time 2 "$REST_URL/openapi/v3"; }
if running slurmrestd "$SLURMRESTD_EXE"; then
	log "slurmrestd: already running (pid $(<"$PIDS/slurmrestd.pid"))"
else
	require_port_free "$REST_PORT" slurmrestd
	log "slurmrestd: starting on $REST_ADDR (rest_auth/jwt)"
	start_bg slurmrestd setpriv --reuid=slurmrestd --regid=slurmrestd --init-groups \
		env SLURM_JWT=daemon SLURM_CONF="$SLURM_CONF" \
		"$SLURMRESTD_BIN" -a rest_auth/jwt \
		-s "$REST_PLUGINS" \
		"$REST_ADDR"
fi
wait_until 30 slurmrestd "$LOG/slurmrestd.out" rest_listening
TOKEN=$(scontrol token username=tally lifespan=300 | sed -n 's/^SLURM_JWT=//p')
[[ -n $TOKEN ]] || die "scontrol token username=tally returned no token (is AuthAltTypes=auth/jwt active in slurmctld?)"
code=$(curl -s -o "$STATE/rest-ping.json" -w '%{http_code}' --max-time 10 \
	-H "X-SLURM-USER-NAME: tally" -H "X-SLURM-USER-TOKEN: $TOKEN" "$REST_URL/slurm/$API/ping")
[[ $code == 200 ]] || { cat "$STATE/rest-ping.json" >&2; show_log "$LOG/slurmrestd.out"; die "slurmrestd /slurm/$API/ping answered HTTP $code"; }
code=$(curl -s -o "$STATE/rest-dbping.json" -w '%{http_code}' --max-time 10 \
	-H "X-SLURM-USER-NAME: tally" -H "X-SLURM-USER-TOKEN: $TOKEN" "$REST_URL/slurmdb/$API/config")
[[ $code == 200 ]] || { head -c 2000 "$STATE/rest-dbping.json" >&2; show_log "$LOG/slurmrestd.out"; die "slurmrestd /slurmdb/$API/config answered HTTP $code"; }
log "slurmrestd: answering with JWT (/slurm/$API/ping and /slurmdb/$API/config: HTTP 200)"

# ---------------------------------------------------------------- env file
cat >"$STATE/env.sh" <<EOF
# source this file to talk to the Slurm testbed
export SLURM_CONF=$SLURM_CONF
export SLURM_TESTBED_DIR=$STATE
export SLURM_TESTBED_CLUSTER=$CLUSTER
export SLURMRESTD_URL=$REST_URL
export SLURM_JWT_KEY=$ETC/jwt_hs256.key
export SLURM_CLUSTER=$CLUSTER
export SLURM_BIN=$(dirname "$(command -v sacct)")
$RS256_EXPORT
export SLURM_TESTBED_GPU_TYPE=$GPU_TYPE
EOF

log "testbed is up"
cat <<EOF

  Slurm $SLURM_VERSION testbed '$CLUSTER' is running.
    slurmctld  localhost:$CTLD_PORT   slurmd $NODE localhost:$SLURMD_PORT   slurmdbd 127.0.0.1:$DBD_PORT
    slurmrestd $REST_URL  (JWT; headers X-SLURM-USER-NAME / X-SLURM-USER-TOKEN)
    MariaDB    $MYSQL_HOST:$MYSQL_PORT database $DB_NAME
    PrivateData: ${PRIVATE_DATA:-<unset>}
  Users (unix + Slurm): alice (physics, chem), bob (chem), tally (ops, AdminLevel=Operator)
  Environment:  source $STATE/env.sh
  Token:        scontrol token username=alice lifespan=3600
                or $HERE/mint-jwt.sh alice 3600   (HS256 with $ETC/jwt_hs256.key)
  Submit a job: runuser -u alice -- sbatch --chdir=$JOBS -p cpu --wrap 'sleep 5'
  Logs:         $LOG/
  Stop:         $HERE/down.sh          (add --purge to delete state and the accounting DB)
EOF
