"""Settings: environment variables with the prefix ENERGO_API_ (or keyword arguments).

Contract addresses come from the deploy tooling's deployments file
(``deployments/<chainId>.json``: ``{"chainId": …, "contracts": {name: address}}``) or
from explicit settings; explicit addresses win. Obviously wrong configuration is
refused at start-up with a message that says what to fix.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from eth_utils import is_checksum_address, is_hex_address
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from energo.deployments import DeploymentError, Deployments
from energo.errors import EnergoError

#: Names the deploy tooling records (energo/deployment.py).
TSL_NAME = "TslToken"
BATTERY_NAME = "SharedBattery"
LEDGER_NAME = "MeterLedger"


class ConfigError(EnergoError, ValueError):
    """The configuration cannot work; the message says what to change."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ENERGO_API_", extra="forbid")

    rpc_url: str = "http://127.0.0.1:8545"
    #: deployments/<chainId>.json written by the deploy tooling.
    deployments: Path | None = None
    tsl_address: str | None = None
    battery_address: str | None = None
    ledger_address: str | None = None
    market_address: str | None = None
    #: Market contract name in the deployments file; None takes the one market recorded.
    market_name: str | None = None

    #: SQLAlchemy URL; SQLite (embedded) by default, e.g. postgresql+psycopg://user@host/db.
    database_url: str = "sqlite:///energo-index.sqlite3"
    #: Blocks a log must be buried under before it is indexed.
    confirmations: int = Field(default=0, ge=0, le=10_000)
    #: First block to index (the deployment block saves scanning genesis on a live chain).
    start_block: int = Field(default=0, ge=0)
    poll_interval_s: float = Field(default=1.0, gt=0, le=300)
    #: Most blocks per eth_getLogs request.
    log_batch_blocks: int = Field(default=2_000, ge=1, le=100_000)
    #: The index counts as stale when it is this many blocks behind the confirmed head.
    stale_after_blocks: int = Field(default=5, ge=0)
    #: Chain reads are cached this long (and per block): the benchmark's p99 depends on it.
    cache_ttl_s: float = Field(default=1.0, ge=0, le=60)
    #: Longest wait for one JSON-RPC answer (a hung node costs a request at most this).
    rpc_timeout_s: float = Field(default=5.0, gt=0, le=120)
    #: The chain's block interval (Qtum: 32 s). The head counts as stale when its timestamp
    #: is more than head_stale_after_blocks intervals behind the wall clock; 0 switches
    #: that off (an automining local chain makes blocks only when sent transactions).
    block_interval_s: float = Field(default=32.0, ge=0, le=3_600)
    head_stale_after_blocks: float = Field(default=10.0, gt=0, le=10_000)
    #: A meter or gateway whose last reading landed longer ago than this is silent, and
    #: /health says degraded (0: never).
    reading_max_age_s: float = Field(default=3_600.0, ge=0)
    #: Origins allowed to call the API from a browser (CORS), comma-separated, or "*".
    #: Default none: only the page served by the API itself (same origin).
    cors_origins: str = ""
    #: URL dApps should use for the chain (the discovery endpoint); default the rpc_url.
    public_rpc_url: str | None = None
    #: The API's public base URL for openapi.json's servers (default "/": relative).
    public_api_url: str | None = None
    #: Folder of Swagger UI's files for /docs (default: node_modules/swagger-ui-dist of the checkout).
    docs_assets: Path | None = None
    #: Longest wait between indexer retries while the node fails (doubling from poll_interval_s).
    max_backoff_s: float = Field(default=30.0, gt=0, le=3_600)
    #: Transaction builders (POST /wallet/...): requests per minute per client address.
    builder_rate_per_min: int = Field(default=120, ge=0)
    #: Run the indexer inside the API process (off: another process fills the database).
    run_indexer: bool = True
    #: Serve the web page at / .
    serve_page: bool = True
    #: Gas price for the unsigned transactions (Qtum's minimum is 400 gwei in Janus units).
    gas_price_wei: int = Field(default=400 * 10**9, ge=1)
    gas_margin: float = Field(default=1.2, ge=1.0, le=5.0)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65_535)
    log_level: str = "info"
    #: "auto" (pretty on a terminal, JSON otherwise), "json" or "console".
    log_format: str = "auto"

    @field_validator("rpc_url")
    @classmethod
    def _rpc_url(cls, value: str) -> str:
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https", "ws", "wss") or not parsed.netloc:
            raise ValueError(f"rpc_url must be an http(s):// or ws(s):// URL with a host, got {value!r}")
        return value

    @field_validator("tsl_address", "battery_address", "ledger_address", "market_address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not is_hex_address(value):
            raise ValueError(f"{value!r} is not a 20-byte hex address")
        if value != value.lower() and not is_checksum_address(value):
            raise ValueError(f"{value!r} has a wrong EIP-55 checksum (mistyped?)")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
            raise ValueError("database_url must be sqlite:///<path> or postgresql+psycopg://… (PostgreSQL)")
        if value.startswith("postgresql://"):
            # psycopg 3 is the installed driver; SQLAlchemy's bare name means psycopg2.
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value

    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, value: str) -> str:
        if value not in ("auto", "json", "console"):
            raise ValueError("log_format must be auto, json or console")
        return value

    @model_validator(mode="after")
    def _addresses_known(self) -> Settings:
        if self.deployments is not None and not self.deployments.is_file():
            raise ValueError(f"deployments file {self.deployments} does not exist (run the deploy first)")
        if self.deployments is None and self.battery_address is None:
            raise ValueError("give a deployments file (ENERGO_API_DEPLOYMENTS) or at least ENERGO_API_BATTERY_ADDRESS")
        return self

    # ------------------------------------------------------------ resolution

    def deployments_record(self) -> tuple[int | None, dict[str, str]]:
        """(chain id, contract name -> address) from the deployments file, if any."""
        if self.deployments is None:
            return None, {}
        try:
            record = Deployments.read(self.deployments)
        except DeploymentError as exc:
            raise ConfigError(str(exc)) from exc
        return record.chain_id, record.contracts

    def resolved_addresses(self) -> ResolvedAddresses:
        chain_id, recorded = self.deployments_record()
        market_name = self.market_name
        if market_name is None:
            markets = sorted(n for n in recorded if "market" in n.lower() or "auction" in n.lower())
            if len(markets) > 1:
                raise ConfigError(f"{self.deployments} records several markets {markets}: set ENERGO_API_MARKET_NAME")
            market_name = markets[0] if markets else None
        elif market_name not in recorded and self.market_address is None:
            raise ConfigError(f"market {market_name!r} is not in {self.deployments} (it has {sorted(recorded)})")
        out = ResolvedAddresses(
            chain_id=chain_id,
            tsl=self.tsl_address or recorded.get(TSL_NAME),
            battery=self.battery_address or recorded.get(BATTERY_NAME),
            ledger=self.ledger_address or recorded.get(LEDGER_NAME),
            market=self.market_address or (recorded.get(market_name) if market_name else None),
            market_name=market_name,
        )
        if out.battery is None:
            raise ConfigError(f"no {BATTERY_NAME} address: not in {self.deployments} and not set explicitly")
        return out


class ResolvedAddresses:
    """Contract addresses the API reads (TSL and the ledger can be asked of the battery)."""

    def __init__(self, chain_id, tsl, battery, ledger, market, market_name):
        self.chain_id = chain_id
        self.tsl = tsl
        self.battery = battery
        self.ledger = ledger
        self.market = market
        self.market_name = market_name

    def __repr__(self) -> str:
        return (f"ResolvedAddresses(chain_id={self.chain_id}, tsl={self.tsl}, battery={self.battery}, "
                f"ledger={self.ledger}, market={self.market} ({self.market_name}))")
