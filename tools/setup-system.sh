#!/usr/bin/env bash
# System packages the API's tests and benchmark need: Debian's chromium (driven by
# Playwright, never a downloaded browser), PostgreSQL (the indexer's second backend,
# started by the tests themselves) and wrk (the load generator of benchmarks/api_bench.py).
# Idempotent: says what is missing and installs only that. Nothing missing: exits 0, as
# any user. Something missing: needs root (apt-get), or sudo that asks no password.
set -euo pipefail

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

echo "setup-system.sh: missing: ${missing[*]}"
as_root=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
        as_root=(sudo -n)
    else
        echo "setup-system.sh: installing them needs root; run one of:" >&2
        echo "    sudo bash tools/setup-system.sh" >&2
        echo "    sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
        exit 1
    fi
fi

echo "setup-system.sh: installing ${missing[*]}"
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
# The tests start their own PostgreSQL server in a temporary directory (initdb as the
# postgres user); the packaged cluster is left as Debian configures it.
echo "setup-system.sh: done"
