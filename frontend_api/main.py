"""The FastAPI application: create_app(settings) with a lifespan that connects to the
chain, opens the index database and runs the indexer in a background thread."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from energo import artifacts
from frontend_api.api.deps import ApiError, AppContext
from frontend_api.api.routes import accounts, battery, community, health, market, meters, trades, wallet
from frontend_api.core.chain import Chain, ChainUnavailable
from frontend_api.core.config import Settings
from frontend_api.indexer import handlers
from frontend_api.indexer.db import make_engine
from frontend_api.indexer.engine import Indexer
from frontend_api.indexer.queries import IndexQueries

STATIC = Path(__file__).resolve().parent / "static"
API_PREFIX = "/api/v1"
log = structlog.get_logger("frontend_api")


def build_context(settings: Settings) -> AppContext:
    """Connects and checks everything; raises ConfigError/IndexMismatch on wrong config."""
    addresses = settings.resolved_addresses()
    chain = Chain(settings, addresses)
    engine = make_engine(settings.database_url)
    sources = [
        handlers.battery_source(chain.battery.address, chain.battery.abi),
        handlers.ledger_source(chain.ledger.address, chain.ledger.abi),
    ]
    if chain.market is not None:
        sources.append(handlers.market_source(chain.market.address, chain.market.abi))
    indexer = Indexer(chain.w3, engine, sources, chain_id=chain.chain_id, confirmations=settings.confirmations,
                      start_block=settings.start_block, batch_blocks=settings.log_batch_blocks,
                      poll_interval_s=settings.poll_interval_s)
    indexer.check_identity()
    queries = IndexQueries(engine, chain.market.address if chain.market is not None else None)
    return AppContext(settings=settings, chain=chain, engine=engine, queries=queries,
                      indexer=indexer if settings.run_indexer else None)


def install_warming(ctx: AppContext) -> None:
    """New blocks and new index steps become visible to requests only after the screens
    asked for recently are rebuilt for them (see accounts.warm_screens)."""

    def on_head(block: int, timestamp: int) -> None:
        accounts.warm_screens(ctx, (block, timestamp, False))

    def on_step(indexed: int) -> None:
        try:
            head_info = ctx.chain.head()
            accounts.warm_screens(ctx, head_info, indexed)
        finally:
            ctx.published_indexed = indexed

    ctx.chain.warmers.append(on_head)
    if ctx.indexer is not None:
        ctx.published_indexed = ctx.indexer.indexed_block() if ctx.indexer.indexed_block() is not None else -1
        ctx.indexer.on_step.append(on_step)


class FreshnessHeaders:
    """Adds X-Energo-Indexed-Block and X-Energo-Stale to every API response (plain ASGI:
    no per-request task or body buffering, unlike @app.middleware)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        ctx = getattr(scope["app"].state, "ctx", None)

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start" and ctx is not None:
                indexed = ctx.indexed_block()
                try:
                    head, _, chain_stale = ctx.chain.head_nowait() or ctx.chain.head()
                    stale = chain_stale or ctx.index_stale(head)
                except ChainUnavailable:
                    stale = True
                headers = list(message.get("headers", []))
                headers.append((b"x-energo-indexed-block", str(indexed if indexed is not None else "none").encode()))
                headers.append((b"x-energo-stale", b"true" if stale else b"false"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(settings: Settings | None = None, context: AppContext | None = None) -> FastAPI:
    """The app; `context` (from build_context) lets a caller check the configuration first."""
    settings = settings or (context.settings if context is not None else Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        running = getattr(app.state, "ctx", None)
        if running is not None and not running.closing:
            # Entered again while running (a test client inside another, e.g. schemathesis'
            # ASGI transport): share the running context, and leave closing it to its owner.
            yield
            return
        ctx = context or build_context(settings)
        app.state.ctx = ctx
        install_warming(ctx)
        if ctx.indexer is not None:
            ctx.indexer.start()
        ctx.chain.follow_head()
        log.info("api_started", chain_id=ctx.chain.chain_id, contracts={k: c.address for k, c in
                                                                         ctx.chain.contracts().items()},
                 database=ctx.engine.url.render_as_string(hide_password=True))
        try:
            yield
        finally:
            ctx.closing = True
            if ctx.indexer is not None:
                ctx.indexer.stop()
            ctx.chain.close()
            ctx.engine.dispose()
            log.info("api_stopped")

    app = FastAPI(
        title="Energo API",
        version="1.0.0",
        description="Read the Energo community microgrid (accounts, market, meters, battery, community) and get "
                    "unsigned transactions for the browser's wallet. Token amounts are decimal strings in whole "
                    "tokens, prices TSL per kWh, energy whole Wh.",
        lifespan=lifespan,
    )

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail, "error": exc.error, "args": exc.args_}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            parts.append(f"{where}: {err.get('msg')}")
        return JSONResponse({"detail": "; ".join(parts) or "invalid request", "error": "invalid_request",
                             "args": []}, status_code=422)

    @app.exception_handler(ChainUnavailable)
    async def _chain_down(_request: Request, exc: ChainUnavailable) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "error": "chain_unavailable", "args": []}, status_code=503)

    app.add_middleware(FreshnessHeaders)

    for module in (accounts, market, trades, meters, battery, community, health, wallet):
        app.include_router(module.router, prefix=API_PREFIX)

    if settings.serve_page:
        app.mount("/static", StaticFiles(directory=STATIC), name="static")

        @app.get("/", include_in_schema=False)
        def page() -> FileResponse:
            return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    _ = artifacts  # ABIs come from energo/artifacts (one source of truth)
    return app
