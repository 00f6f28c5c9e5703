#!/usr/bin/env bash
# Installs moto's S3-compatible server (PyPI `moto[server]`) into a venv and prints the
# path of its launcher, for the vault's S3 backend tests:
#   export BPOSHIELD_S3_SERVER="$(bash scripts/s3-server.sh)"
# The tests start it themselves on a free loopback port (`moto_server -H 127.0.0.1 -p N`).
# Needs python3 with venv (Debian: python3 python3-venv).
set -euo pipefail

VENV="${BPOSHIELD_S3_VENV:-/var/cache/bposhield-venv/s3-server}"
VERSION="5.2.5"
BIN="$VENV/bin/moto_server"

if [ ! -x "$BIN" ] || ! "$VENV/bin/pip" show moto 2>/dev/null | grep -q "^Version: $VERSION$"; then
  mkdir -p "$(dirname "$VENV")"
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install -q --disable-pip-version-check "moto[server]==$VERSION" >&2
fi
echo "$BIN"
