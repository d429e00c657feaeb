"""The FastAPI application: create_app(settings) with a lifespan that connects to the
chain, opens the index database and runs the indexer in a background thread."""

from __future__ import annotations

import time
from contextlib import asynccontextmanager
from pathlib import Path

import structlog
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from energo import artifacts
from frontend_api.api import metrics as metrics_module
from frontend_api.api.deps import READ_RESPONSES, ApiError, AppContext, min_block
from frontend_api.api.routes import accounts, battery, community, discovery, health, market, meters, trades, wallet
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
    indexer.max_backoff_s = settings.max_backoff_s
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
            if head_info[0] < indexed:
                # The indexer saw a block the head follower has not published yet: chain
                # reads at the older head would not know what the index already shows
                # (a new order without its rank). Publish the newer head first.
                head_info = ctx.chain.head(force=True)
            accounts.warm_screens(ctx, head_info, indexed)
        finally:
            ctx.published_indexed = indexed

    ctx.chain.warmers.append(on_head)
    if ctx.indexer is not None:
        ctx.published_indexed = ctx.indexer.indexed_block() if ctx.indexer.indexed_block() is not None else -1
        ctx.indexer.on_step.append(on_step)


#: GET answers that depend on the wall clock, not only on the chain and the index: no ETag.
NO_ETAG = (API_PREFIX + "/health",)


def state_etag(ctx: AppContext, indexed: int | None) -> str | None:
    """A weak ETag for what a GET answers: every read is a function of the head (number and
    hash), the indexed block and the stale flag, so while those stay the same the answer
    does too. None while the head is unknown."""
    head = ctx.chain.head_known()
    head_hash = ctx.chain.head_hash()
    if head is None or head_hash is None:
        return None
    stale = ctx.is_stale(head, indexed)
    return f'W/"{head[0]}-{head_hash[:10]}-{indexed}-{int(stale)}"'


class FreshnessHeaders:
    """Adds X-Energo-Indexed-Block and X-Energo-Stale to every API response, and an ETag to
    GET answers; a GET whose If-None-Match is the current ETag gets a 304 without any work
    (plain ASGI: no per-request task or body buffering, unlike @app.middleware)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        ctx = getattr(scope["app"].state, "ctx", None)
        metrics = getattr(scope["app"].state, "metrics", None)
        started = time.perf_counter()
        etag = None
        if ctx is not None and scope["method"] == "GET" and scope["path"] not in NO_ETAG:
            etag = state_etag(ctx, ctx.indexed_block())
            if etag is not None:
                for name, value in scope.get("headers", []):
                    if name == b"if-none-match" and etag.encode() in [v.strip() for v in value.split(b",")]:
                        await send({"type": "http.response.start", "status": 304, "headers": [
                            (b"etag", etag.encode()), (b"cache-control", b"no-cache")]})
                        await send({"type": "http.response.body", "body": b""})
                        return

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start" and metrics is not None:
                route = getattr(scope.get("route"), "path", None) or "unmatched"
                metrics.observe(route, message["status"], started)
            if message["type"] == "http.response.start" and ctx is not None:
                # Never the node here: the head the follower last saw, its age, the index.
                indexed = ctx.indexed_block()
                stale = ctx.is_stale(ctx.chain.head_known(), indexed)
                headers = list(message.get("headers", []))
                headers.append((b"x-energo-indexed-block", str(indexed if indexed is not None else "none").encode()))
                headers.append((b"x-energo-stale", b"true" if stale else b"false"))
                if etag is not None and message["status"] == 200:
                    headers.append((b"etag", etag.encode()))
                    headers.append((b"cache-control", b"no-cache"))  # revalidate: a 304 costs nothing
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def docs_assets(settings: Settings) -> Path | None:
    """Swagger UI's files: ENERGO_API_DOCS_ASSETS, else the npm package swagger-ui-dist
    (pinned in package.json) of this checkout."""
    candidates = [settings.docs_assets] if settings.docs_assets else [
        Path(__file__).resolve().parent.parent / "node_modules" / "swagger-ui-dist"]
    for path in candidates:
        if path is not None and (Path(path) / "swagger-ui-bundle.js").is_file():
            return Path(path)
    return None


def install_docs(app: FastAPI, settings: Settings) -> None:
    """/docs: Swagger UI from local files (works offline, no script from elsewhere)."""
    assets = docs_assets(settings)
    if assets is not None:
        app.mount("/docs-assets", StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        if assets is None:
            return HTMLResponse("<!doctype html><title>Energo API</title><p>Swagger UI's files are not installed "
                                "here (npm ci installs swagger-ui-dist; or set ENERGO_API_DOCS_ASSETS to its "
                                "folder). The API's description is <a href='/openapi.json'>/openapi.json</a>.</p>")
        return get_swagger_ui_html(openapi_url="/openapi.json", title="Energo API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/docs-assets/favicon-32x32.png")


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
        servers=[{"url": settings.public_api_url or "/", "description": "this API"}],
        docs_url=None,  # served below from local assets, never a CDN
        redoc_url=None,
    )
    app.state.metrics = metrics_module.Metrics(app)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # 404 for an unknown path, 405 for a wrong method: the same body as every other error.
        codes = {404: "not_found", 405: "method_not_allowed"}
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return JSONResponse({"detail": detail, "error": codes.get(exc.status_code, f"http_{exc.status_code}"),
                             "args": []}, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail, "error": exc.error, "args": exc.args_}, status_code=exc.status,
                            headers=exc.headers)

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
    # CORS outermost, so that preflights and error answers carry its headers too. No origin
    # is allowed by default: only the page served here (same origin) calls the API.
    app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origin_list(), allow_methods=["GET", "POST"],
                       allow_headers=["Content-Type", "If-None-Match"], max_age=600,
                       expose_headers=["X-Energo-Indexed-Block", "X-Energo-Stale", "ETag", "Retry-After"])

    for module in (accounts, market, trades, meters, battery, community):
        # Reads take minBlock: answer once the index holds a given block (after a transaction).
        app.include_router(module.router, prefix=API_PREFIX, dependencies=[Depends(min_block)],
                           responses=READ_RESPONSES)
    for module in (health, wallet, discovery):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(metrics_module.router)

    install_docs(app, settings)

    if settings.serve_page:
        app.mount("/static", StaticFiles(directory=STATIC), name="static")

        @app.get("/", include_in_schema=False)
        def page() -> FileResponse:
            return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    _ = artifacts  # ABIs come from energo/artifacts (one source of truth)
    return app
