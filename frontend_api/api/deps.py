"""Request dependencies: the application context, validated addresses, errors."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Annotated

from eth_utils import is_checksum_address, is_hex_address, to_checksum_address
from fastapi import Depends, Path, Query, Request
from sqlalchemy import Engine

from frontend_api.api.schemas import ErrorBody
from frontend_api.core.chain import Chain
from frontend_api.core.config import Settings
from frontend_api.indexer.engine import Indexer
from frontend_api.indexer.queries import IndexQueries


class ApiError(Exception):
    """Becomes a JSON error body {detail, error, args} with the status code."""

    def __init__(self, status: int, error: str, detail: str, args: list | tuple = ()) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.args_ = [str(a) for a in args]


@dataclass
class AppContext:
    settings: Settings
    chain: Chain
    engine: Engine
    queries: IndexQueries
    indexer: Indexer | None
    started_at: float = field(default_factory=time.time)
    _indexed: tuple[float, int | None] = (0.0, None)

    #: Set by the in-process indexer after each step (after warming); None: read the database.
    published_indexed: int | None = None
    #: Accounts whose screens were asked for (address -> monotonic time): warmed on new blocks.
    hot_accounts: dict = field(default_factory=dict)
    #: Screen builds in progress, shared by concurrent requests for the same screen.
    inflight: dict = field(default_factory=dict)
    closing: bool = False

    def indexed_block(self) -> int | None:
        if self.published_indexed is not None:
            return self.published_indexed if self.published_indexed >= 0 else None
        # Another process indexes: the cursor is one row, re-read at most every 200 ms.
        now = time.monotonic()
        if now - self._indexed[0] > 0.2:
            from sqlalchemy import select

            from frontend_api.indexer import schema

            with self.engine.connect() as conn:
                value = conn.execute(select(schema.cursor.c.block_number)).scalar()
            self._indexed = (now, value)
        return self._indexed[1]

    def index_stale(self, head: int, indexed: int | None = None) -> bool:
        indexed = self.indexed_block() if indexed is None else indexed
        if indexed is None:
            return True
        if self.indexer is not None and self.indexer.last_error:
            return True
        return (head - self.settings.confirmations) - indexed > self.settings.stale_after_blocks

    def freshness(self, head_info: tuple[int, int, bool] | None = None) -> dict:
        head, _, chain_stale = head_info or self.chain.head()
        return {"block": head, "indexedBlock": self.indexed_block(), "stale": chain_stale or self.index_stale(head)}

    def index_freshness(self) -> dict:
        head, _, chain_stale = self.chain.head()
        return {"indexedBlock": self.indexed_block(), "stale": chain_stale or self.index_stale(head)}


async def get_ctx(request: Request) -> AppContext:
    return request.app.state.ctx


Ctx = Annotated[AppContext, Depends(get_ctx)]


def checked_address(value: str, what: str = "address") -> str:
    """A 0x address in its EIP-55 form; anything else is a 400 that says what is wrong."""
    if not isinstance(value, str) or not is_hex_address(value):
        raise ApiError(400, "invalid_address", f"{what} {value!r} is not a 0x-prefixed 20-byte hex address")
    if not is_checksum_address(value):
        raise ApiError(400, "unchecksummed_address",
                       f"{what} {value} is not in its EIP-55 checksummed form (did you mean "
                       f"{to_checksum_address(value)}?); a wrong checksum usually means a mistyped address")
    return value


ADDRESS_PATTERN = r"^0x[0-9a-fA-F]{40}$"


async def path_address(address: Annotated[str, Path(description="EIP-55 checksummed account address (the checksum "
                                                          "itself is checked too: 400 when wrong)",
                                              pattern=ADDRESS_PATTERN,
                                              examples=["0x976EA74026E726554dB657fA54763abd0C3a0aa9"])]) -> str:
    return checked_address(address)


def query_account(account: Annotated[str | None, Query(description="Only this account (EIP-55 address)",
                                                      pattern=ADDRESS_PATTERN)] = None,
                  ) -> str | None:
    return None if account is None else checked_address(account, "account")


def parse_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not cursor.isdigit() or len(cursor) > 18:
        raise ApiError(400, "invalid_cursor", f"cursor {cursor!r} is not one this API returned (a nextCursor)")
    return int(cursor)


ERROR_RESPONSES: dict = {
    400: {"model": ErrorBody, "description": "Malformed input (address, cursor, amount)"},
    404: {"model": ErrorBody, "description": "Unknown id"},
    422: {"model": ErrorBody, "description": "Input out of range or of the wrong type"},
    503: {"model": ErrorBody, "description": "The chain node cannot be reached"},
}
