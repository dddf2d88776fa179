#!/usr/bin/env bash
# build.sh: builds Slurm 24.11 from the upstream tarball Debian trixie ships
# (slurm-wlm_24.11.5.orig.tar.gz) into /opt/slurm-24.11, once per machine:
# a later run finds /opt/slurm-24.11/.built-<version> and does nothing.
# Root only (it installs the build dependencies from bookworm). The
# system's apt sources stay as they are: trixie's sources index lives in a
# private directory used only for `apt-get source`.
set -Eeuo pipefail
VERSION=24.11.5
TARBALL=slurm-wlm_${VERSION}.orig.tar.gz
SHA256=e1a5547edd212c38b5e3230a284133f777b32746551f094aaa81cc4af375e332
PREFIX=${SLURM_2411_PREFIX:-/opt/slurm-24.11}
WORK=${SLURM_2411_BUILD:-/var/tmp/slurm-24.11-build}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
case "${1:-}" in -h | --help)
	sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
	exit 0 ;;
esac
say() { printf '[build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
if [[ -f $PREFIX/.built-$VERSION ]]; then
	say "Slurm $VERSION already built in $PREFIX"
	exit 0
fi
[[ $(id -u) -eq 0 ]] || { echo "build.sh: run as root" >&2; exit 1; }
mkdir -p "$WORK/apt/lists/partial" "$WORK/src"
began=$SECONDS
say "build dependencies (bookworm)"
deps=(build-essential pkg-config libmunge-dev libmariadb-dev libjwt-dev libjson-c-dev libhttp-parser-dev libyaml-dev)
if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${deps[@]}" >/dev/null 2>&1; then
	apt-get update -qq >/dev/null # a fresh machine's package lists may be empty
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${deps[@]}" >/dev/null
fi
if [[ ! -f $WORK/src/$TARBALL ]] || ! echo "$SHA256  $WORK/src/$TARBALL" | sha256sum -c --quiet 2>/dev/null; then
	say "fetching $TARBALL through trixie's source index"
	echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR trixie main" >"$WORK/apt/sources.list"
	opts=(-o "Dir::Etc::sourcelist=$WORK/apt/sources.list" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$WORK/apt/lists")
	apt-get "${opts[@]}" update -qq >/dev/null
	# Only the orig tarball is there (the .dsc and Debian's patches answer
	# 404), so apt-get exits non-zero: the checksum below decides.
	(cd "$WORK/src" && apt-get "${opts[@]}" source --download-only slurm-wlm >/dev/null 2>&1) || true
	echo "$SHA256  $WORK/src/$TARBALL" | sha256sum -c --quiet || { echo "build.sh: $TARBALL missing or corrupt" >&2; exit 1; }
fi
say "unpacking"
rm -rf "$WORK/tree"
mkdir -p "$WORK/tree"
tar -C "$WORK/tree" --strip-components=1 -xzf "$WORK/src/$TARBALL" # unpacks as slurm-slurm-24-11-5-1/
cd "$WORK/tree"
say "configure"
./configure -q --prefix="$PREFIX" --sysconfdir="$PREFIX/etc" --with-munge --with-jwt --with-json --with-yaml --with-http-parser \
	--enable-slurmrestd --without-hdf5 --without-hwloc --without-lua --without-nvml --without-rsmi --without-pmix \
	--without-ucx --without-rdkafka --without-libcurl --without-freeipmi --without-bpf --without-dbus --disable-x11 \
	--disable-glibtest --disable-gtktest --disable-sview --disable-debug >/dev/null
say "make -j$(nproc)"
make -s -j"$(nproc)" >/dev/null 2>&1 || make -j"$(nproc)" 2>&1 | tail -40
say "install into $PREFIX"
make -s install >/dev/null
touch "$PREFIX/.built-$VERSION"
say "Slurm $VERSION built in $((SECONDS - began)) s: $PREFIX ($(du -sh "$PREFIX" | cut -f1))"
