#!/usr/bin/env bash
# System packages the API's tests and benchmark need: Debian's chromium (driven by
# Playwright, never a downloaded browser), PostgreSQL (the indexer's second backend,
# started by the tests themselves) and wrk (the load generator of benchmarks/api_bench.py).
# Idempotent: installs only what is missing. Run as root: `sudo tools/setup-system.sh`.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
    echo "setup-system.sh: run as root (it calls apt-get)" >&2
    exit 1
fi

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# Debian's postgresql puts initdb/pg_ctl under /usr/lib/postgresql/<major>/bin.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
    missing+=(postgresql)
fi
command -v wrk >/dev/null 2>&1 || missing+=(wrk)

if [ "${#missing[@]}" -eq 0 ]; then
    echo "setup-system.sh: chromium, postgresql and wrk are already installed"
    exit 0
fi

echo "setup-system.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"
# The tests start their own PostgreSQL server in a temporary directory (initdb as the
# postgres user); the packaged cluster is left as Debian configures it.
echo "setup-system.sh: done"
