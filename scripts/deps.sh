#!/usr/bin/env bash
# deps.sh [build|test]: installs the system packages Tally builds (and
# tests) with, when run as root on Debian/Ubuntu: gcc and libpam0g-dev for
# cgo PAM and the fonts PDFs are set in; for tests also chromium (browser
# journeys), haproxy (the load-balanced session test) and poppler-utils
# (pdftotext reads the PDFs back).
# Elsewhere it only reports what is missing.
set -euo pipefail
need=()
[ -f /usr/include/security/pam_appl.h ] || need+=(libpam0g-dev)
if [ "${1:-build}" = test ]; then
  command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || need+=(chromium)
  command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
  command -v pdftotext >/dev/null 2>&1 || need+=(poppler-utils)
fi
# Fonts for PDFs (TALLY_PDF_FONTS): without them PDFs fall back to Helvetica.
# They are installed when we can, and only reported when we cannot.
fonts=()
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf ] || fonts+=(fonts-dejavu-core)
[ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || fonts+=(fonts-wqy-microhei)
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  need+=("${fonts[@]}")
elif [ ${#fonts[@]} -gt 0 ]; then
  echo "deps: PDFs will be set in Helvetica (Latin only) without ${fonts[*]} (sudo apt-get install ${fonts[*]})" >&2
fi
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "deps: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "${need[@]}" >&2 \
    || { apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends "${need[@]}" >&2; }
else
  echo "deps: missing ${need[*]}; install them (sudo apt-get install ${need[*]})" >&2
  exit 1
fi
