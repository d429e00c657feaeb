"""Energo's HTTP API and web page (FastAPI, web3.py, SQLAlchemy).

    from frontend_api import Settings, serve, serve_in_thread
    serve(Settings(deployments="deployments/8890.json", rpc_url="http://127.0.0.1:8545"))   # blocks
    server = serve_in_thread(settings)        # in-process, for the demo and tests
    ...; server.stop()

or as a process: ``python -m frontend_api --deployments deployments/8890.json --rpc-url …``.
"""

from frontend_api.core.config import Settings
from frontend_api.server import ServerHandle, serve, serve_in_thread, start_subprocess

__all__ = ["Settings", "ServerHandle", "serve", "serve_in_thread", "start_subprocess"]
