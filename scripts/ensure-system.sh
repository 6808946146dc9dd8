#!/usr/bin/env bash
# Make sure what the platform and its test suite need from the system is there
# (`ensure-system.sh runtime`: only what the platform runs, for `make demo`):
#  - Debian's tesseract-ocr (OCR for text crop proposals),
#  - Debian's chromium (Playwright drives it; its own browser download cannot work offline),
#  - Debian's postgresql-client (pg_dump, pg_restore: `miscomp backup`) and caddy (the proxy),
#  - Debian's DejaVu and Liberation fonts (held-out glyphs of the detector's benchmark),
#  - PostgreSQL and Redis answering on loopback: used as they are when they answer, started
#    when installed but stopped, installed from Debian's packages when missing.
set -euo pipefail

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
apt_updated=0
apt_install() {
  if [ "$apt_updated" -eq 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
wait_for() {
  for _ in $(seq 1 60); do answers "$1" && return 0; sleep 0.5; done
  echo "error: nothing answers on 127.0.0.1:$1 after starting $2" >&2; return 1
}

# What the platform itself runs: Tesseract finds text and symbol changes (crop proposals).
if ! command -v tesseract >/dev/null 2>&1; then
  echo "installing Debian's tesseract-ocr for text and symbol crop proposals"
  apt_install tesseract-ocr tesseract-ocr-eng
fi
if [ "${1:-}" = "runtime" ]; then
  exit 0
fi

if ! command -v chromium >/dev/null 2>&1; then
  echo "installing Debian's chromium for the browser tests"
  apt_install chromium
fi

# Real command-line codecs for the external-codec tests.
missing=()
command -v cwebp >/dev/null 2>&1 && command -v dwebp >/dev/null 2>&1 || missing+=(webp)
command -v cjpeg >/dev/null 2>&1 && command -v djpeg >/dev/null 2>&1 || missing+=(libjpeg-turbo-progs)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} for the command-line codec tests"
  apt_install "${missing[@]}"
fi

# pg_dump and pg_restore for `miscomp backup` and its restore test (the server is PostgreSQL 15:
# Debian's client of the same major version; a Debian server install brings them too).
if ! command -v pg_dump >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/pg_dump >/dev/null 2>&1; then
  echo "installing Debian's postgresql-client for the backup commands"
  apt_install postgresql-client
fi

# Fonts the detector never saw in training: its benchmark (bench/detector_bench.py) draws
# held-out glyphs with them.
if [ ! -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || [ ! -f /usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf ]; then
  echo "installing Debian's fonts-dejavu-core and fonts-liberation for the detector benchmark"
  apt_install fonts-dejavu-core fonts-liberation
fi

# Caddy, the Compose file's reverse proxy: tests/test_proxy.py runs deploy/Caddyfile with it.
if ! command -v caddy >/dev/null 2>&1; then
  echo "installing Debian's caddy for the reverse proxy test"
  apt_install caddy
fi

if ! answers 5432; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    echo "installing PostgreSQL from Debian's packages"
    apt_install postgresql
    hba=$(ls /etc/postgresql/*/main/pg_hba.conf | head -n1)
    # A throwaway test server on loopback only: trust local TCP connections, as CI's does.
    as_root sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
  fi
  echo "starting PostgreSQL"
  as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  wait_for 5432 PostgreSQL
fi

if ! answers 6379; then
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "installing Redis from Debian's packages"
    apt_install redis-server
  fi
  echo "starting Redis"
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for 6379 Redis
fi
echo "system ready: chromium, cwebp/dwebp, cjpeg/djpeg, pg_dump, caddy, PostgreSQL :5432, Redis :6379"
