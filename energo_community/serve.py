"""`make demo SERVE=1`: after the day, keep the chain and the gateways running and serve
the HTTP API and the household page until Ctrl-C."""

from __future__ import annotations

import threading
from collections.abc import Callable

from energo_community.community import Community


def serve_until_interrupted(community: Community, port: int, say: Callable[[str], None],
                            stop: threading.Event | None = None) -> None:
    from frontend_api import Settings, serve_in_thread

    handles = community.handles()
    settings = Settings(
        rpc_url=handles.rpc_url,
        deployments=handles.deployments_path,
        # A fresh index each run: the chain is new, and the API refuses an index of another chain.
        database_url=f"sqlite:///{(handles.out / 'api-index.sqlite3').resolve()}",
        port=port,
        confirmations=0,
        log_format="json",
    )
    index = handles.out / "api-index.sqlite3"
    for stale in (index, index.with_name(index.name + "-wal"), index.with_name(index.name + "-shm")):
        stale.unlink(missing_ok=True)
    server = serve_in_thread(settings)
    try:
        name, account = next(iter(handles.households.items()))
        say("")
        say(f"Serving the Energo app and API at {server.url}")
        say(f"  {name}'s screen:  {server.url}/?account={account}")
        say(f"  API documentation: {server.url}/docs")
        say(f"  chain (JSON-RPC):  {handles.rpc_url}   deployments: {handles.deployments_path}")
        say("The chain and the gateways keep running. Ctrl-C stops everything.")
        (stop or threading.Event()).wait()
    finally:
        server.stop()
