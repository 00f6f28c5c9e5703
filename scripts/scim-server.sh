#!/usr/bin/env bash
# Installs scim2-server (PyPI, the python-scim project's in-memory SCIM 2.0 server) into a
# venv and prints the path of its launcher, for the connector tests:
#   export BPOSHIELD_SCIM_SERVER="$(bash scripts/scim-server.sh)"
# With arguments, runs the server instead, e.g.
#   bash scripts/scim-server.sh --port 8080 --bearer-token secret
# Needs python3 with venv (Debian: python3 python3-venv); installs them when root.
set -euo pipefail

VENV="${BPOSHIELD_SCIM_VENV:-/var/cache/bposhield-venv/scim-server}"
VERSION="0.8.3"
BIN="$VENV/bin/scim2-server"

if [ ! -x "$BIN" ] || ! "$VENV/bin/pip" show scim2-server 2>/dev/null | grep -q "^Version: $VERSION$"; then
  if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq >&2
      apt-get install -y -qq python3 python3-venv >&2
    else
      echo "python3 with venv is needed: apt-get install python3 python3-venv" >&2
      exit 1
    fi
  fi
  mkdir -p "$(dirname "$VENV")"
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install -q --disable-pip-version-check "scim2-server==$VERSION" >&2
fi

if [ $# -gt 0 ]; then
  exec "$BIN" "$@"
fi
echo "$BIN"
