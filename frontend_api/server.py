"""Running the API: blocking, in a background thread, or as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import httpx
import uvicorn

from frontend_api.core.config import Settings
from frontend_api.core.logging import configure_logging


def _config(settings: Settings) -> uvicorn.Config:
    from frontend_api.main import build_context, create_app

    # Connect and check before serving, so wrong configuration fails here with its message.
    return uvicorn.Config(create_app(settings, build_context(settings)), host=settings.host, port=settings.port, log_config=None,
                          access_log=False, log_level=settings.log_level, lifespan="on")


def serve(settings: Settings) -> None:
    """Serves until SIGINT/SIGTERM (uvicorn drains requests and the lifespan stops the indexer)."""
    configure_logging(settings.log_level, settings.log_format)
    # The event loop answers cached screens while the indexer and head-follower threads
    # work; a shorter GIL switch interval (default 5 ms) keeps those threads from adding
    # whole milliseconds to a cached answer.
    sys.setswitchinterval(0.0005)
    uvicorn.Server(_config(settings)).run()


@dataclass
class ServerHandle:
    url: str
    stop: callable  # type: ignore[valid-type]


def _wait_ready(url: str, timeout: float, alive) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"the API at {url} exited during start-up (see its log)")
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"the API at {url} was not ready within {timeout}s")


def serve_in_thread(settings: Settings, timeout: float = 30.0) -> ServerHandle:
    """Starts uvicorn in a daemon thread of this process; returns once /api/v1/health answers."""
    server = uvicorn.Server(_config(settings))
    server.install_signal_handlers = lambda: None  # the caller's process owns signals
    thread = threading.Thread(target=server.run, name="energo-api", daemon=True)
    thread.start()
    url = f"http://{settings.host}:{settings.port}"
    _wait_ready(url, timeout, thread.is_alive)

    def stop() -> None:
        server.should_exit = True
        thread.join(15)

    return ServerHandle(url=url, stop=stop)


def start_subprocess(settings: Settings, timeout: float = 30.0, log_file=None) -> tuple[subprocess.Popen, str]:
    """`python -m frontend_api` with the settings as ENERGO_API_* variables; waits until ready."""
    env = dict(os.environ)
    for key, value in settings.model_dump(exclude_none=True).items():
        env[f"ENERGO_API_{key.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
    proc = subprocess.Popen([sys.executable, "-m", "frontend_api"], env=env, stdout=log_file or subprocess.DEVNULL,
                            stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://{settings.host}:{settings.port}"
    try:
        _wait_ready(url, timeout, lambda: proc.poll() is None)
    except Exception:
        proc.terminate()
        raise
    return proc, url
