#!/usr/bin/env bash
# Runs every bposhield test on a fresh Debian machine: installs what the tests need
# (PostgreSQL, Chromium + ChromeDriver, OpenLDAP slapd, USBGuard, Python venvs with the SCIM
# reference server and the scim2-tester conformance checker, moto's S3 server), starts a throwaway
# PostgreSQL on loopback, then
# runs the whole test suite twice: on SQLite, then with every store and server test on
# PostgreSQL too. Needs root (apt) unless the packages are already installed.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/bposhield-target}"
export DEBIAN_FRONTEND=noninteractive

need=()
PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
[ -n "$PGBIN" ] && [ -x "$PGBIN/initdb" ] || need+=(postgresql)
command -v chromedriver >/dev/null || need+=(chromium chromium-driver)
command -v chromium >/dev/null || need+=(chromium)
command -v openssl >/dev/null || need+=(openssl)
command -v curl >/dev/null || need+=(curl)
[ -x /usr/sbin/slapd ] || need+=(slapd)
command -v ldapsearch >/dev/null || need+=(ldap-utils)
# USBGuard's rule parser and policy generator: the endpoint crate's differential tests.
command -v usbguard-rule-parser >/dev/null || need+=(usbguard)
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3 python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing ${need[*]}"
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
  PGBIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
fi

PGPORT="${BPOSHIELD_TEST_PG_PORT:-55432}"
PGDATA="$(mktemp -d /tmp/bposhield-test-pg.XXXXXX)"
chmod 700 "$PGDATA"
as_pg() { if [ "$(id -u)" = 0 ]; then chown -R postgres "$PGDATA"; su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
echo "== starting PostgreSQL on 127.0.0.1:$PGPORT"
as_pg "'$PGBIN/initdb' -D '$PGDATA' -A trust -U postgres >'$PGDATA.initdb.log' 2>&1"
as_pg "'$PGBIN/pg_ctl' -D '$PGDATA' -o \"-p $PGPORT -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300\" -l '$PGDATA/server.log' -w start >/dev/null"
cleanup() { as_pg "'$PGBIN/pg_ctl' -D '$PGDATA' -m fast stop >/dev/null 2>&1" || true; rm -rf "$PGDATA" "$PGDATA.initdb.log"; }
trap cleanup EXIT

echo "== SCIM reference server and conformance checker (PyPI)"
BPOSHIELD_SCIM_SERVER="$(bash scripts/scim-server.sh)"
BPOSHIELD_SCIM_TESTER="$(bash scripts/scim_conformance.sh --print-python)"
export BPOSHIELD_SCIM_SERVER BPOSHIELD_SCIM_TESTER
echo "== S3-compatible server for the vault's S3 backend (PyPI moto)"
BPOSHIELD_S3_SERVER="$(bash scripts/s3-server.sh)"
export BPOSHIELD_S3_SERVER

export BPOSHIELD_TEST_REQUIRE_TOOLS=1
echo "== tests on SQLite"
cargo test --workspace --locked
echo "== tests on PostgreSQL"
BPOSHIELD_TEST_PG_URL="postgres://postgres@127.0.0.1:$PGPORT/postgres" cargo test --workspace --locked
# The PII engine classifies bytes with SSE2 by default and with AVX2 when built for
# x86-64-v3 (docs/dlp.md): the second path is tested too where the CPU has it.
if [ "$(uname -m)" = x86_64 ] && grep -qw avx2 /proc/cpuinfo; then
  echo "== PII engine tests built for x86-64-v3 (AVX2)"
  RUSTFLAGS="-C target-cpu=x86-64-v3" CARGO_TARGET_DIR="$CARGO_TARGET_DIR-v3" cargo test -p bposhield-dlp --locked
fi
