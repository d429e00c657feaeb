"""Request dependencies: the application context, validated addresses, errors."""

from __future__ import annotations

import time
from collections.abc import Callable
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

    def __init__(self, status: int, error: str, detail: str, args: list | tuple = (),
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.args_ = [str(a) for a in args]
        self.headers = headers


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
    #: The wall clock (a test moves it to see what a halted chain looks like hours later).
    clock: Callable[[], float] = time.time

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

    def from_index(self, key: tuple, compute, indexed: int | None = None):
        """compute(), cached per indexed block: answers from the index never wait for the node."""
        indexed = self.indexed_block() if indexed is None else indexed
        full = (("index",) + key, indexed)
        hit = self.chain.cache.get(full)
        if hit is not None:
            return hit[1]
        value = compute()
        self.chain.cache.put(full, value)
        return value

    def head_age_s(self, head_ts: int | None) -> float | None:
        """Seconds between the head's timestamp and the wall clock (negative: a chain clock ahead)."""
        return None if head_ts is None else self.clock() - head_ts

    def head_too_old(self, head_ts: int | None) -> bool:
        """The chain has made no block for head_stale_after_blocks block intervals, by the wall clock."""
        interval = self.settings.block_interval_s
        age = self.head_age_s(head_ts)
        return bool(interval) and age is not None and age > interval * self.settings.head_stale_after_blocks

    def is_stale(self, head_info: tuple[int, int, bool] | None, indexed: int | None = None) -> bool:
        """The one definition of stale: the node does not answer, the chain has stopped by the
        wall clock, the indexer failed its last step, or the index is behind the head."""
        if head_info is None:
            return True
        head, head_ts, chain_stale = head_info
        return chain_stale or self.head_too_old(head_ts) or self.index_stale(head, indexed)

    def freshness(self, head_info: tuple[int, int, bool] | None = None) -> dict:
        head_info = head_info or self.chain.head()
        return {"block": head_info[0], "indexedBlock": self.indexed_block(), "stale": self.is_stale(head_info)}

    def index_freshness(self) -> dict:
        return {"indexedBlock": self.indexed_block(), "stale": self.is_stale(self.chain.head_known())}


async def get_ctx(request: Request) -> AppContext:
    return request.app.state.ctx


Ctx = Annotated[AppContext, Depends(get_ctx)]


def checked_address(value: str, what: str = "address") -> str:
    """A 0x address, answered in its EIP-55 form. All lower or all upper case is taken as
    it is (wallets answer in lower case); mixed case must be a correct EIP-55 checksum,
    since a wrong one usually means a mistyped address (a 400 that says so)."""
    if not isinstance(value, str) or not is_hex_address(value):
        raise ApiError(400, "invalid_address", f"{what} {value!r} is not a 0x-prefixed 20-byte hex address")
    digits = value[2:]
    if digits == digits.lower() or digits == digits.upper():
        return to_checksum_address(value)
    if not is_checksum_address(value):
        raise ApiError(400, "unchecksummed_address",
                       f"{what} {value} is not in its EIP-55 checksummed form (did you mean "
                       f"{to_checksum_address(value)}?); a wrong checksum usually means a mistyped address")
    return value


ADDRESS_PATTERN = r"^0x[0-9a-fA-F]{40}$"


async def path_address(address: Annotated[str, Path(description="Account address in any case (all lower, all upper, "
                                                          "or EIP-55: a wrong mixed-case checksum is a 400)",
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

#: Reads that take minBlock can also answer 409 (that block is not indexed yet).
READ_RESPONSES: dict = {
    **ERROR_RESPONSES,
    409: {"model": ErrorBody, "description": "minBlock is not indexed yet (error block_not_indexed)"},
}

#: How long a read with minBlock waits for the index to reach it.
MIN_BLOCK_WAIT_S = 3.0


async def min_block(request: Request, minBlock: Annotated[  # noqa: N803 - the query's public name
        int | None, Query(ge=0, le=2**63 - 1, description="Answer only once the index holds this block (e.g. the "
                          "block of your transaction's receipt); waits up to a few seconds, then 409")] = None,
                    ) -> None:
    if minBlock is None:
        return
    import asyncio

    ctx: AppContext = request.app.state.ctx
    head = ctx.chain.head_known()
    deadline = time.monotonic() + MIN_BLOCK_WAIT_S
    while True:
        indexed = ctx.indexed_block()
        if indexed is not None and indexed >= minBlock:
            return
        # A block beyond the next one is not coming soon: answer at once.
        if head is None or minBlock > head[0] + 1 or time.monotonic() > deadline:
            raise ApiError(409, "block_not_indexed", f"block {minBlock} is not indexed yet (indexed to "
                           f"{indexed}, chain head {head[0] if head else None}); retry shortly",
                           [minBlock, indexed if indexed is not None else -1])
        await asyncio.sleep(0.05)
        head = ctx.chain.head_known()
