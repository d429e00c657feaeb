"""`python -m frontend_api [--deployments deployments/8890.json] [--rpc-url URL] [--database-url URL] …`

Options override ENERGO_API_* environment variables; the API refuses to start on
obviously wrong configuration and says what to fix.
"""

from __future__ import annotations

import argparse
import sys

from pydantic import ValidationError

from frontend_api.core.config import ConfigError, Settings
from frontend_api.indexer.engine import IndexMismatch
from frontend_api.server import serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m frontend_api", description="Energo HTTP API and web page")
    parser.add_argument("--deployments", help="deployments/<chainId>.json written by the deploy tooling")
    parser.add_argument("--rpc-url", help="Ethereum JSON-RPC URL (anvil, or Janus in front of qtumd)")
    parser.add_argument("--database-url", help="sqlite:///path or postgresql+psycopg://user@host/db")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--confirmations", type=int)
    parser.add_argument("--battery-address")
    parser.add_argument("--market-address")
    parser.add_argument("--market-name")
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if v is not None}
    try:
        settings = Settings(**overrides)
        serve(settings)
    except (ValidationError, ConfigError, IndexMismatch) as exc:
        print(f"frontend_api: refusing to start: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
