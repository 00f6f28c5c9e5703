#!/usr/bin/env bash
# Microsoft Presidio as an anchor for benchmarking our PII scanner (crates/dlp) offline:
# installs presidio-analyzer into a venv on first use, then runs scripts/presidio_bench.py
# with the given arguments (`scripts/presidio.sh --help` lists them). Nothing is downloaded
# at run time: the bench uses Presidio's no-op NLP engine (no spaCy model) and a tldextract
# with no suffix-list URLs (the snapshot bundled with the package).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${BPOSHIELD_PRESIDIO_VENV:-/var/cache/bposhield-presidio}"
# Pinned so that numbers from different machines compare; the version installed is also
# written to "$VENV/presidio-version" and reported by every bench run ("presidio_version").
PRESIDIO_VERSION=2.2.366
installed() {
    "$VENV/bin/python" -c 'import sys; from importlib.metadata import version as v
sys.exit(v("presidio-analyzer") != sys.argv[1] or not v("tldextract"))' "$PRESIDIO_VERSION" 2>/dev/null
}
if [ ! -x "$VENV/bin/python" ] || ! installed; then
    mkdir -p "$(dirname "$VENV")"
    if ! python3 -m venv "$VENV" >&2 2>/dev/null; then
        if [ "$(id -u)" = 0 ]; then
            apt-get install -y -qq python3-venv >/dev/null \
                || { apt-get update -qq >/dev/null && apt-get install -y -qq python3-venv >/dev/null; }
            rm -rf "$VENV"
            python3 -m venv "$VENV" >&2
        else
            echo "presidio.sh: python3 -m venv failed; install python3-venv (as root) and retry" >&2
            exit 1
        fi
    fi
    "$VENV/bin/pip" install -q --disable-pip-version-check "presidio-analyzer==$PRESIDIO_VERSION" >&2
    "$VENV/bin/python" -c 'from importlib.metadata import version; print(version("presidio-analyzer"))' \
        >"$VENV/presidio-version"
    echo "presidio.sh: installed presidio-analyzer $(cat "$VENV/presidio-version") in $VENV" >&2
fi
# `--print-python`: install only and print the interpreter.
if [ "${1:-}" = "--print-python" ]; then
    echo "$VENV/bin/python"
    exit 0
fi
exec "$VENV/bin/python" scripts/presidio_bench.py "$@"
