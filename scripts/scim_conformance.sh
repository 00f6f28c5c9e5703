#!/usr/bin/env bash
# SCIM 2.0 conformance: runs every check of scim2-tester against a test server (the
# `scim::conformance` integration test starts it and runs scripts/scim_conformance.py).
# Installs scim2-tester into a venv on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${BPOSHIELD_SCIM_VENV:-/var/cache/bposhield-venv/scim}"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import scim2_tester' 2>/dev/null; then
    mkdir -p "$(dirname "$VENV")"
    python3 -m venv "$VENV" >&2 2>/dev/null || { apt-get install -y -qq python3-venv >/dev/null && python3 -m venv "$VENV" >&2; }
    "$VENV/bin/pip" install -q --disable-pip-version-check 'scim2-tester==0.5.2' 'scim2-client==0.13.2' >&2
fi
export BPOSHIELD_SCIM_TESTER="$VENV/bin/python"
# `--print-python`: install only and print the interpreter (scripts/test.sh exports it so
# the conformance test runs with the rest of the suite).
if [ "${1:-}" = "--print-python" ]; then
    echo "$BPOSHIELD_SCIM_TESTER"
    exit 0
fi
exec cargo test -p bposhield-server --test it -- --exact scim::conformance --nocapture
