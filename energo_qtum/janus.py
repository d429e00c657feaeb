"""A JSON-RPC client for Janus over plain HTTP (urllib, no web3 needed).

Janus speaks Ethereum JSON-RPC in front of qtumd. Addresses are 20-byte hash160 hex,
values are in wei (1 satoshi = 10^10 wei) except ``qtum_getUTXOs``, whose amounts are
decimal QTUM strings. Transaction hashes are Qtum txids.
"""

from __future__ import annotations

import itertools
import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from .builder import Utxo
from .checks import SATOSHI_PER_QTUM
from .encoding import strip_0x
from .errors import JanusRpcError

WEI_PER_SATOSHI = 10**10
# Spendable by our signer and readable by Qtum as msg.sender: P2PK and P2PKH only.
SENDER_UTXO_TYPES = ("p2pk", "p2pkh")
# How a refusal because the inputs are missing or spent reaches the client. Janus v0.4.3
# replaces qtumd's text for code -25 (bad-txns-inputs-missingorspent) by "verify error"
# (pkg/qtum/jsonrpc.go L142, L210, TryGetKnownError L86-93); other nodes and proxies
# pass qtumd's or bitcoind's own words.
INPUTS_GONE_MARKERS = ("verify error", "missingorspent", "missing inputs", "txn-mempool-conflict", "already spent")


def inputs_gone(error: JanusRpcError) -> bool:
    """True when a broadcast was refused because (some of) its inputs are missing or
    spent. On Janus the text is the bare "verify error", which qtumd's code -25 also
    covers for other verification failures: confirm with ``qtum_getUTXOs`` before
    treating the coins as gone."""
    message = error.user_message.lower()
    return any(marker in message for marker in INPUTS_GONE_MARKERS)


class JsonRpcTransport:
    """POST one JSON-RPC 2.0 request, return its result or raise JanusRpcError."""

    def __init__(self, url: str, timeout: float = 30.0):
        self.url = url
        self.timeout = timeout
        self._ids = itertools.count(1)

    def request(self, method: str, params: Sequence[Any] = ()) -> Any:
        body = json.dumps({"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}).encode()
        http_request = urllib.request.Request(
            self.url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(http_request, timeout=self.timeout) as response:
                payload = json.loads(response.read())
        except urllib.error.HTTPError as error:
            # Janus answers JSON-RPC errors with HTTP 200, but proxies may not.
            try:
                payload = json.loads(error.read())
            except ValueError:
                raise JanusRpcError(f"{method}: HTTP {error.code} from {self.url}", method=method) from None
        except (urllib.error.URLError, OSError) as error:
            raise JanusRpcError(f"{method}: cannot reach {self.url} ({error})", method=method) from None
        except ValueError:
            raise JanusRpcError(f"{method}: {self.url} did not answer JSON", method=method) from None
        if not isinstance(payload, dict):
            raise JanusRpcError(f"{method}: malformed JSON-RPC response", method=method)
        if payload.get("error"):
            rpc_error = payload["error"]
            message = rpc_error.get("message", str(rpc_error)) if isinstance(rpc_error, dict) else str(rpc_error)
            code = rpc_error.get("code") if isinstance(rpc_error, dict) else None
            raise JanusRpcError(f"{method} failed: {message}", code=code, method=method)
        return payload.get("result")


def qtum_to_satoshi(amount: str | int | float) -> int:
    try:
        value = Decimal(str(amount)) * SATOSHI_PER_QTUM
    except InvalidOperation:
        raise JanusRpcError(f"amount {amount!r} is not a number") from None
    if value != value.to_integral_value():
        raise JanusRpcError(f"amount {amount!r} has more than 8 decimals")
    return int(value)


def _hex_address(address: str) -> str:
    return "0x" + strip_0x(address).lower()


class JanusClient:
    """Typed wrappers for the Janus methods this project uses."""

    def __init__(self, url: str, timeout: float = 30.0):
        self.url = url
        self.transport = JsonRpcTransport(url, timeout)

    def request(self, method: str, params: Sequence[Any] = ()) -> Any:
        return self.transport.request(method, params)

    def chain_id(self) -> int:
        return int(self.request("eth_chainId"), 16)

    def block_number(self) -> int:
        return int(self.request("eth_blockNumber"), 16)

    def gas_price_wei(self) -> int:
        return int(self.request("eth_gasPrice"), 16)

    def get_balance_wei(self, address_hex: str, block: str = "latest") -> int:
        return int(self.request("eth_getBalance", [_hex_address(address_hex), block]), 16)

    def get_code(self, address_hex: str, block: str = "latest") -> str:
        return self.request("eth_getCode", [_hex_address(address_hex), block])

    def call(self, tx: dict[str, Any], block: str = "latest") -> str:
        return self.request("eth_call", [tx, block])

    def estimate_gas(self, tx: dict[str, Any]) -> int:
        """Janus runs callcontract and returns gas used plus its own buffer."""
        return int(self.request("eth_estimateGas", [tx]), 16)

    def send_raw_transaction(self, raw_hex: str) -> str:
        """Broadcast a signed Qtum transaction; returns its txid (no 0x)."""
        return strip_0x(self.request("eth_sendRawTransaction", ["0x" + strip_0x(raw_hex)]))

    def get_transaction_receipt(self, txid: str) -> dict[str, Any] | None:
        return self.request("eth_getTransactionReceipt", ["0x" + strip_0x(txid)])

    def get_logs(self, log_filter: dict[str, Any]) -> list[dict[str, Any]]:
        """Janus refuses a filter without fromBlock or toBlock (pkg/transformer/util.go,
        getBlockNumberByRawParam) and ignores blockHash: both bounds are required here.
        Its logs come grouped by contract within a block and number logIndex within
        each receipt: order them by (blockNumber, transactionIndex, logIndex)."""
        missing = [key for key in ("fromBlock", "toBlock") if log_filter.get(key) is None]
        if missing:
            raise JanusRpcError(f"eth_getLogs through Janus needs {' and '.join(missing)}", method="eth_getLogs")
        return self.request("eth_getLogs", [log_filter])

    def coinbase_txid(self, height: int) -> str | None:
        """The txid of the block's coinbase, or None: Janus lists a block's transactions
        as qtumd's getblock does, the coinbase first (pkg/transformer/eth_getBlockByHash.go
        L233-240, v0.4.3)."""
        block = self.request("eth_getBlockByNumber", [hex(height), False])
        transactions = (block or {}).get("transactions") or []
        if not transactions:
            return None
        first = transactions[0]
        return strip_0x(first if isinstance(first, str) else first.get("hash", "")).lower() or None

    def get_utxos(
        self,
        address_hex: str,
        types: Sequence[str] = SENDER_UTXO_TYPES,
        mature_only: bool = True,
    ) -> list[Utxo]:
        """All UTXOs of a hash160 address via ``qtum_getUTXOs``.

        Janus takes ``[address, minSumAmount, type...]``; minSumAmount "0" means all.
        Naming types leaves immature stake/coinbase outputs out unless "immature" is
        named too; ``safe`` is false for those, and we drop them again to be sure.
        """
        params = [_hex_address(address_hex), "0", *types]
        if not mature_only:
            params.append("immature")
        entries = self.request("qtum_getUTXOs", params) or []
        utxos = []
        for entry in entries:
            try:
                utxo = Utxo(
                    txid=strip_0x(entry["txid"]).lower(),
                    vout=int(entry["vout"]),
                    script_pubkey=bytes.fromhex(entry["scriptPubKey"]),
                    value_sat=qtum_to_satoshi(entry["amount"]),
                    confirmations=entry.get("confirmations"),
                    mature=bool(entry.get("safe", True)),
                    height=entry.get("height"),
                )
            except (KeyError, TypeError, ValueError) as error:
                raise JanusRpcError(f"qtum_getUTXOs returned a malformed entry: {error}") from None
            if utxo.mature or not mature_only:
                utxos.append(utxo)
        return utxos
