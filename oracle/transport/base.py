"""The one way the daemon talks to a chain.

Everything chain-specific sits behind ``Transport``: how a transaction is built, signed,
identified and broadcast, and how receipts are found. The submitter records a prepared
transaction's ``envelope`` in the outbox *before* broadcasting it, so after a crash it
can broadcast exactly the same bytes again.

Today: ``EvmTransport`` (JSON-RPC, locally signed legacy transactions). A Qtum UTXO
transport fits the same interface: ``prepare`` builds and signs a Qtum transaction
whose output runs OP_CALL on the ledger (tx_id = its txid, envelope = its raw bytes and
the outpoints it spends); ``broadcast`` is sendrawtransaction, where "inputs already
spent" without a receipt means STALE; ``outcome`` reads the receipt (via Janus or
qtumd's gettransactionreceipt) and ``restore``/``release`` track reserved outpoints
where the EVM transport tracks nonces.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from oracle.errors import OracleError


class TransportError(OracleError):
    """Base of chain-access errors."""


class TransportUnavailable(TransportError):
    """The node did not answer or answered garbage; retry later (with backoff)."""


class CallReverted(TransportError):
    """A call or gas estimate reverted; ``data`` is the revert data (may be empty)."""

    def __init__(self, user_message: str, data: bytes = b""):
        super().__init__(user_message)
        self.data = data


class GasCapExceeded(TransportError):
    """The transaction needs more gas than one transaction may carry on this chain
    (``Transport.max_tx_gas``): send less in it."""

    def __init__(self, user_message: str, gas: int, cap: int):
        super().__init__(user_message)
        self.gas = gas
        self.cap = cap


class Broadcast(enum.Enum):
    ACCEPTED = "accepted"  # the node took it
    KNOWN = "known"  # the node already had it, or it is already mined
    STALE = "stale"  # it can never be mined (its nonce or inputs are used by another transaction)


@dataclass(frozen=True)
class PreparedTx:
    """A signed transaction, not yet broadcast."""

    tx_id: str
    envelope: bytes  # what `broadcast` needs, opaque to everyone else
    summary: dict[str, Any] = field(default_factory=dict)  # for logs (nonce, gas, price)


@dataclass(frozen=True)
class Log:
    address: str
    topics: list[bytes]
    data: bytes

    def __getitem__(self, key: str):  # decode_reading_events reads logs as mappings
        return getattr(self, key)


@dataclass(frozen=True)
class TxOutcome:
    tx_id: str
    block_number: int
    block_hash: str
    succeeded: bool
    gas_used: int
    logs: list[Log]


class Transport(ABC):
    #: The account that signs and pays for transactions.
    sender: str
    #: The most gas one transaction may ask for; ``prepare`` raises GasCapExceeded above it.
    max_tx_gas: int = 30_000_000

    @abstractmethod
    def chain_id(self) -> int: ...

    @abstractmethod
    def head(self) -> int:
        """The newest block number."""

    @abstractmethod
    def code(self, address: str) -> bytes: ...

    @abstractmethod
    def call(self, to: str, data: bytes) -> bytes:
        """Read-only call at the newest block; raises CallReverted."""

    @abstractmethod
    def prepare(self, to: str, data: bytes) -> PreparedTx:
        """Estimates, prices and signs a call; raises CallReverted if it would revert."""

    @abstractmethod
    def broadcast(self, envelope: bytes) -> Broadcast: ...

    @abstractmethod
    def outcome(self, tx_id: str) -> TxOutcome | None:
        """The receipt if the transaction is in a block, else None."""

    @abstractmethod
    def restore(self, envelopes: list[bytes]) -> None:
        """After a restart: these recorded transactions may still be mined; keep clear of
        what they use (nonces, outpoints)."""

    @abstractmethod
    def release(self, envelope: bytes) -> None:
        """This prepared transaction will never be mined; its nonce or inputs are free."""

    @abstractmethod
    def close(self) -> None:
        """Releases connections."""
