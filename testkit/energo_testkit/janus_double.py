"""JanusTestDouble: a TEST DOUBLE of Janus for local tests. Never use it for a real
network: it holds no real coins, verifies only what is listed below, and its "chain"
is an anvil node.

It serves, on 127.0.0.1, the subset of Janus' JSON-RPC that Energo uses
(eth_chainId, net_version, eth_blockNumber, eth_gasPrice, eth_call, eth_estimateGas,
eth_getLogs, eth_getCode, eth_getBalance, eth_getTransactionReceipt,
eth_sendRawTransaction and qtum_getUTXOs) in front of:

- a UTXO set, with coins for test addresses created at start-up, and
- an anvil EVM (started here with Qtum-regtest flags, or one you pass by URL).

``eth_sendRawTransaction`` takes only Qtum-format transactions. Each one is parsed
and checked like qtumd would (see ``mempool.py``): every input's signature against
the output it spends, script forms, sender script of the first input, gas bounds,
gas price, fee = gas stipend + size fee, and no double spend. Refusals come back as
Janus does: JSON-RPC error -32000 with "qtum [code: N] <qtumd reason>".

An accepted contract output is run on anvil with msg.sender = hash160 of the first
input's public key (anvil_impersonateAccount, legacy gasPrice = sat/gas x 10^10).
A create is deployed from that sender, then its runtime code and the storage its
constructor wrote (debug_traceTransaction, prestateTracer in diffMode) are copied to
the address Qtum gives it, RIPEMD160(SHA256(txid || vout)), and removed from the
temporary address. Receipts are looked up by txid and carry transactionHash = txid
and contractAddress = the Qtum address; no Ethereum hash leaks out.

Not emulated (know these before trusting a green test):
- segwit, P2SH and multisig spends, sighash types other than ALL, OP_SENDER outputs,
  and more than one contract output per transaction (all refused, with a message
  that says "janus test double");
- during a constructor, address(this) is the temporary address: immutables or
  storage that record address(this), and contracts the constructor creates, keep
  the temporary address. Constructor logs are re-addressed in receipts and getLogs;
- the sender's EVM balance is topped up for the duration of a call, so
  ``address(msg.sender).balance`` reads more than on Qtum; msg.value is passed as
  the number of satoshi;
- gas is metered by anvil (Ethereum's Cancun schedule), not by Qtum's evmone build;
  gas refunds become immature (coinstake-like) coins to the sender, as on Qtum, and
  a call's value is returned to the sender if the call reverts;
- every transaction is mined at once in its own block, like Janus --dev on regtest;
  there is no mempool, no reorg and no block subsidy, and block.timestamp is
  anvil's, not a multiple of 4 seconds;
- coins sent with a create are not tracked, and eth_getBalance of an account is the
  sum of its coins (including immature ones) x 10^10, as Janus reports it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from energo_qtum.encoding import hash160, strip_0x
from energo_qtum.errors import JanusRpcError, TransactionFormatError
from energo_qtum.fees import DEFAULT_FEE_RATE_SAT_PER_KB
from energo_qtum.janus import WEI_PER_SATOSHI, JsonRpcTransport
from energo_qtum.keys import base58_to_hex, hex_to_base58
from energo_qtum.networks import get_network
from energo_qtum.script import ScriptType, classify_script, p2pkh_script, push_number
from energo_qtum.tx import OutPoint, Transaction, TxIn, TxOut, contract_address, parse_transaction
from energo_testkit.anvil import AnvilProcess
from energo_testkit.mempool import (
    QTUM_COINBASE_MATURITY,
    RPC_DESERIALIZATION_ERROR,
    AcceptedTransaction,
    Coin,
    RejectedTransaction,
    validate_transaction,
)

# Janus v0.4.3 multiplies callcontract's gas used by GAS_BUFFER = 1.20
# (pkg/transformer/eth_estimateGas.go). Configurable, since docs elsewhere say 10%.
JANUS_ESTIMATE_GAS_BUFFER = 1.20
JANUS_NON_CONTRACT_GAS = 22_000  # Janus answers eth_estimateGas without data with 0x55f0
JANUS_CALLBACK_ERROR = -32000
MIN_GAS_PRICE_WEI = 40 * WEI_PER_SATOSHI

_RECEIPT_FIELDS = (
    "transactionHash",
    "transactionIndex",
    "blockHash",
    "blockNumber",
    "from",
    "to",
    "cumulativeGasUsed",
    "gasUsed",
    "contractAddress",
    "logs",
    "logsBloom",
    "status",
)


class JsonRpcFailure(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _qtum_error(code: int, reason: str) -> JsonRpcFailure:
    # Janus wraps qtumd's error as a callback error: "qtum [code: -26] <reason>".
    return JsonRpcFailure(JANUS_CALLBACK_ERROR, f"qtum [code: {code}] {reason}")


def _format_qtum_amount(satoshi: int) -> str:
    return format((Decimal(satoshi) / 10**8).normalize(), "f")


class _TxRecord:
    def __init__(self, txid: str, sender_hex: str, kind: str):
        self.txid = txid
        self.sender_hex = sender_hex
        self.kind = kind  # "call", "create" or "transfer"
        self.evm_hash: str | None = None
        self.contract_hex: str | None = None  # called or created (Qtum address)
        self.temp_contract_hex: str | None = None  # where anvil first deployed a create
        self.block: dict[str, Any] | None = None  # for transactions without EVM work
        self.failed_gas_used: int | None = None  # set when anvil refused the EVM tx


class JanusTestDouble:
    """A local Janus test double (see the module docstring for what it emulates)."""

    def __init__(
        self,
        funded: Mapping[str, int] | None = None,
        *,
        anvil_url: str | None = None,
        network: str = "regtest",
        fee_rate_sat_per_kb: int = DEFAULT_FEE_RATE_SAT_PER_KB,
        estimate_gas_buffer: float = JANUS_ESTIMATE_GAS_BUFFER,
    ):
        """``funded`` maps addresses (base58 or hash160 hex) to satoshi they get at start."""
        self.network = get_network(network)
        self.fee_rate_sat_per_kb = fee_rate_sat_per_kb
        self.estimate_gas_buffer = estimate_gas_buffer
        self._initial_funding = dict(funded or {})
        self._anvil_url = anvil_url
        self._own_anvil: AnvilProcess | None = None
        self._anvil: JsonRpcTransport | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.RLock()
        self.utxos: dict[OutPoint, Coin] = {}
        self._records: dict[str, _TxRecord] = {}
        self._evm_to_txid: dict[str, str] = {}
        self._temp_to_qtum: dict[str, str] = {}
        self._synthetic_count = 0
        self._methods: dict[str, Callable[[list], Any]] = {
            "eth_chainId": self._eth_chain_id,
            # Read-only passthroughs that Ethereum tooling (web3.py's is_connected, Ape's
            # node provider) calls on connect; Janus answers them too.
            "web3_clientVersion": lambda params: "Janus test double (energo_qtum)",
            "eth_getBlockByNumber": lambda params: self._evm("eth_getBlockByNumber", params),
            "eth_syncing": lambda params: False,
            "net_version": self._net_version,
            "eth_blockNumber": lambda params: self._evm("eth_blockNumber"),
            "eth_gasPrice": lambda params: hex(MIN_GAS_PRICE_WEI),
            "eth_call": self._eth_call,
            "eth_estimateGas": self._eth_estimate_gas,
            "eth_getLogs": self._eth_get_logs,
            "eth_getCode": self._eth_get_code,
            "eth_getBalance": self._eth_get_balance,
            "eth_getTransactionReceipt": self._eth_get_transaction_receipt,
            "eth_sendRawTransaction": self._eth_send_raw_transaction,
            "qtum_getUTXOs": self._qtum_get_utxos,
        }

    # ---- lifecycle ---------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def anvil_url(self) -> str:
        return self._anvil.url

    def start(self) -> JanusTestDouble:
        if self._anvil_url is None:
            self._own_anvil = AnvilProcess().start()
            self._anvil_url = self._own_anvil.url
        self._anvil = JsonRpcTransport(self._anvil_url, timeout=30)
        for address, value_sat in self._initial_funding.items():
            self.fund(address, value_sat)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="janus-test-double", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._own_anvil is not None:
            self._own_anvil.stop()
            self._own_anvil = None

    def __enter__(self) -> JanusTestDouble:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---- coins -------------------------------------------------------------

    def _address_hex(self, address: str) -> str:
        text = strip_0x(address)
        if len(text) == 40:
            return text.lower()
        return base58_to_hex(address, self.network)

    def fund(
        self,
        address: str | None = None,
        value_sat: int = 0,
        *,
        script_pubkey: bytes | None = None,
        immature: bool = False,
    ) -> OutPoint:
        """Create a coin out of thin air (a synthetic coinbase-like transaction).
        Pass ``script_pubkey`` for a non-P2PKH coin (P2PK, P2WPKH...)."""
        if script_pubkey is None:
            script_pubkey = p2pkh_script(bytes.fromhex(self._address_hex(address)))
        with self._lock:
            self._synthetic_count += 1
            funding = Transaction(
                version=2,
                inputs=[TxIn("00" * 32, 0xFFFFFFFF, push_number(self._synthetic_count))],
                outputs=[TxOut(value_sat, script_pubkey)],
            )
            outpoint = OutPoint(funding.txid, 0)
            self.utxos[outpoint] = Coin(value_sat, script_pubkey, self._tip(), coinbase=immature)
            return outpoint

    def _coins_of(self, address_hex: str) -> list[tuple[OutPoint, Coin]]:
        owner = bytes.fromhex(address_hex)
        coins = []
        for outpoint, coin in self.utxos.items():
            kind = classify_script(coin.script_pubkey)
            if kind is ScriptType.P2PKH and coin.script_pubkey[3:23] == owner:
                coins.append((outpoint, coin))
            elif kind is ScriptType.P2PK and hash160(coin.script_pubkey[1:-1]) == owner:
                coins.append((outpoint, coin))
        return coins

    def _is_mature(self, coin: Coin, tip: int) -> bool:
        return not coin.coinbase or tip - coin.height >= QTUM_COINBASE_MATURITY

    # ---- EVM ---------------------------------------------------------------

    def _evm(self, method: str, params: list | None = None) -> Any:
        try:
            return self._anvil.request(method, params or [])
        except JanusRpcError as error:
            raise JsonRpcFailure(error.code or JANUS_CALLBACK_ERROR, error.user_message) from None

    def _tip(self) -> int:
        return int(self._evm("eth_blockNumber"), 16)

    def _latest_block(self) -> dict[str, Any]:
        block = self._evm("eth_getBlockByNumber", ["latest", False])
        return {"blockHash": block["hash"], "blockNumber": block["number"]}

    def _run_on_evm(self, accepted: AcceptedTransaction, record: _TxRecord) -> None:
        contract = accepted.contract
        sender = "0x" + record.sender_hex
        gas_price_wei = contract.gas_price * WEI_PER_SATOSHI
        value = accepted.tx.outputs[accepted.contract_vout].value
        evm_tx = {
            "from": sender,
            "data": "0x" + contract.data.hex(),
            "gas": hex(contract.gas_limit),
            "gasPrice": hex(gas_price_wei),
            "value": hex(value),
        }
        if contract.contract is not None:
            evm_tx["to"] = "0x" + contract.contract.hex()
        # Coins are UTXOs on Qtum; give the sender just enough EVM balance for this
        # transaction, then restore it.
        balance_before = int(self._evm("eth_getBalance", [sender, "latest"]), 16)
        self._evm("anvil_impersonateAccount", [sender])
        self._evm("anvil_setBalance", [sender, hex(balance_before + contract.gas_limit * gas_price_wei + value)])
        receipt = None
        try:
            record.evm_hash = self._anvil.request("eth_sendTransaction", [evm_tx])
            # anvil mines in the background: wait for the block before the balance goes back.
            receipt = self._wait_evm_receipt(record.evm_hash)
        except JanusRpcError:
            # qtumd would still mine it as an exception consuming all gas.
            record.evm_hash = None
            self._evm("evm_mine")
            record.block = self._latest_block()
            record.failed_gas_used = contract.gas_limit
        finally:
            self._evm("anvil_setBalance", [sender, hex(balance_before)])
            self._evm("anvil_stopImpersonatingAccount", [sender])

        gas_used, status = contract.gas_limit, "0x0"
        if receipt is not None:
            self._evm_to_txid[record.evm_hash.lower()] = record.txid
            gas_used, status = int(receipt["gasUsed"], 16), receipt["status"]
            if contract.contract is None and status == "0x1":
                self._move_created_contract(record, receipt["contractAddress"])
        refund = (contract.gas_limit - gas_used) * contract.gas_price
        refund_script = p2pkh_script(bytes.fromhex(record.sender_hex))
        if refund > 0:
            self._add_block_output(record.txid, b"gas-refund", refund, refund_script, coinbase=True)
        if status != "0x1" and value > 0:
            self._add_block_output(record.txid, b"value-refund", value, refund_script, coinbase=False)

    def _wait_evm_receipt(self, evm_hash: str, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            receipt = self._anvil.request("eth_getTransactionReceipt", [evm_hash])
            if receipt is not None:
                return receipt
            if time.monotonic() > deadline:
                raise JanusRpcError(f"anvil did not mine {evm_hash} within {timeout:g}s")
            time.sleep(0.01)

    def _add_block_output(self, txid: str, tag: bytes, value: int, script: bytes, coinbase: bool) -> None:
        synthetic = Transaction(
            version=2,
            inputs=[TxIn(txid, 0xFFFFFFFF, tag)],
            outputs=[TxOut(value, script)],
        )
        self.utxos[OutPoint(synthetic.txid, 0)] = Coin(value, script, self._tip(), coinbase=coinbase)

    def _move_created_contract(self, record: _TxRecord, temp_address: str) -> None:
        qtum_address = "0x" + record.contract_hex
        code = self._evm("eth_getCode", [temp_address, "latest"])
        trace = self._evm(
            "debug_traceTransaction",
            [record.evm_hash, {"tracer": "prestateTracer", "tracerConfig": {"diffMode": True}}],
        )
        post = {addr.lower(): state for addr, state in trace.get("post", {}).items()}
        storage = post.get(temp_address.lower(), {}).get("storage", {})
        self._evm("anvil_setCode", [qtum_address, code])
        self._evm("anvil_setNonce", [qtum_address, "0x1"])
        for slot, value in storage.items():
            self._evm("anvil_setStorageAt", [qtum_address, slot, value])
            self._evm("anvil_setStorageAt", [temp_address, slot, "0x" + "00" * 32])
        self._evm("anvil_setCode", [temp_address, "0x"])
        record.temp_contract_hex = strip_0x(temp_address).lower()
        self._temp_to_qtum[record.temp_contract_hex] = record.contract_hex

    # ---- JSON-RPC methods --------------------------------------------------

    def _eth_chain_id(self, params: list) -> str:
        return self._evm("eth_chainId")

    def _net_version(self, params: list) -> str:
        return str(int(self._evm("eth_chainId"), 16))

    @staticmethod
    def _call_object(params: list) -> dict[str, Any]:
        if not params or not isinstance(params[0], dict):
            raise JsonRpcFailure(-32602, "params must be set")
        call = dict(params[0])
        # Janus drops these for callcontract; anvil would also charge a zero-balance sender.
        call.pop("gasPrice", None)
        return call

    def _eth_call(self, params: list) -> str:
        call = self._call_object(params)
        block = params[1] if len(params) > 1 else "latest"
        return self._evm("eth_call", [call, block])

    def _eth_estimate_gas(self, params: list) -> str:
        call = self._call_object(params)
        if not strip_0x(call.get("data") or ""):
            return hex(JANUS_NON_CONTRACT_GAS)
        call.pop("gas", None)
        try:
            used = int(self._anvil.request("eth_estimateGas", [call]), 16)
        except JanusRpcError:
            raise JsonRpcFailure(JANUS_CALLBACK_ERROR, "execution reverted") from None
        return hex(int(used * self.estimate_gas_buffer))

    def _eth_get_logs(self, params: list) -> list:
        if not params or not isinstance(params[0], dict):
            raise JsonRpcFailure(-32602, "params must be set")
        log_filter = dict(params[0])
        qtum_to_temp = {qtum: temp for temp, qtum in self._temp_to_qtum.items()}
        addresses = log_filter.get("address")
        if addresses:
            wanted = [addresses] if isinstance(addresses, str) else list(addresses)
            extra = ["0x" + qtum_to_temp[strip_0x(a).lower()] for a in wanted if strip_0x(a).lower() in qtum_to_temp]
            log_filter["address"] = wanted + extra
        return [self._qtum_log(log) for log in self._evm("eth_getLogs", [log_filter])]

    def _qtum_log(self, log: dict[str, Any]) -> dict[str, Any]:
        log = dict(log)
        address = strip_0x(log.get("address", "")).lower()
        if address in self._temp_to_qtum:
            log["address"] = "0x" + self._temp_to_qtum[address]
        txid = self._evm_to_txid.get((log.get("transactionHash") or "").lower())
        if txid is not None:
            log["transactionHash"] = "0x" + txid
        return log

    def _eth_get_code(self, params: list) -> str:
        if not params or not isinstance(params[0], str):
            raise JsonRpcFailure(-32602, "params must be set")
        return self._evm("eth_getCode", [params[0], params[1] if len(params) > 1 else "latest"])

    def _eth_get_balance(self, params: list) -> str:
        if not params:
            raise JsonRpcFailure(-32602, "params must be set")
        address_hex = strip_0x(params[0]).lower()
        code = self._evm("eth_getCode", ["0x" + address_hex, "latest"])
        if strip_0x(code):
            # Janus reports a contract's balance in satoshi, which is what the EVM holds.
            return self._evm("eth_getBalance", ["0x" + address_hex, "latest"])
        total = sum(coin.value for _, coin in self._coins_of(address_hex))
        return hex(total * WEI_PER_SATOSHI)

    def _eth_get_transaction_receipt(self, params: list) -> dict[str, Any] | None:
        if not params or not isinstance(params[0], str):
            raise JsonRpcFailure(-32602, "params must be set")
        record = self._records.get(strip_0x(params[0]).lower())
        if record is None:
            return None
        if record.evm_hash is not None:
            receipt = dict(self._evm("eth_getTransactionReceipt", [record.evm_hash]))
        else:
            gas_used = hex(record.failed_gas_used or 0)
            receipt = {
                **record.block,
                "transactionIndex": "0x0",
                "cumulativeGasUsed": gas_used,
                "gasUsed": gas_used,
                "logs": [],
                "logsBloom": "0x" + "00" * 256,
                "status": "0x0" if record.failed_gas_used else "0x1",
            }
        receipt["transactionHash"] = "0x" + record.txid
        receipt["from"] = "0x" + record.sender_hex
        receipt["to"] = "0x" + record.contract_hex if record.kind == "call" else None
        receipt["contractAddress"] = "0x" + record.contract_hex if record.kind == "create" else None
        receipt["logs"] = [self._qtum_log(log) for log in receipt.get("logs", [])]
        return {field: receipt.get(field) for field in _RECEIPT_FIELDS}

    def _eth_send_raw_transaction(self, params: list) -> str:
        if not params or not isinstance(params[0], str) or not strip_0x(params[0]):
            raise JsonRpcFailure(-32602, "invalid parameter: raw transaction hexed string is empty")
        try:
            tx = parse_transaction(bytes.fromhex(strip_0x(params[0])))
        except (ValueError, TransactionFormatError):
            raise _qtum_error(RPC_DESERIALIZATION_ERROR, "TX decode failed") from None
        if tx.txid in self._records:
            return "0x" + tx.txid  # Janus answers an already-mined transaction with its txid
        try:
            accepted = validate_transaction(tx, self.utxos, self._tip(), self.fee_rate_sat_per_kb)
        except RejectedTransaction as rejection:
            raise _qtum_error(rejection.code, rejection.reason) from None
        self._apply(accepted)
        return "0x" + tx.txid

    def _apply(self, accepted: AcceptedTransaction) -> None:
        tx = accepted.tx
        for outpoint in accepted.spent:
            del self.utxos[outpoint]
        kind = "transfer" if accepted.contract is None else accepted.contract.kind.value
        record = _TxRecord(tx.txid, accepted.sender_hash160.hex(), kind)
        self._records[tx.txid] = record
        if accepted.contract is None:
            self._evm("evm_mine")  # Janus --dev mines a block after each transaction
            record.block = self._latest_block()
        elif accepted.contract.contract is not None:
            record.contract_hex = accepted.contract.contract.hex()
        else:
            record.contract_hex = contract_address(tx.txid, accepted.contract_vout)
        height = self._tip() + (0 if accepted.contract is None else 1)
        for vout, out in enumerate(tx.outputs):
            if classify_script(out.script_pubkey) not in (ScriptType.CALL, ScriptType.CREATE):
                self.utxos[OutPoint(tx.txid, vout)] = Coin(out.value, out.script_pubkey, height)
        if accepted.contract is not None:
            self._run_on_evm(accepted, record)

    def _qtum_get_utxos(self, params: list) -> list[dict[str, Any]]:
        """Janus' parameters: [address hex, minSumAmount QTUM (or a type), type...]."""
        if not params or not all(isinstance(p, str) for p in params):
            raise JsonRpcFailure(-32602, "couldn't unmarshal request parameters")
        address_hex = strip_0x(params[0]).lower()
        try:
            if len(bytes.fromhex(address_hex)) != 20:
                raise ValueError
        except ValueError:
            raise JsonRpcFailure(-32602, "couldn't validate parameters value") from None
        known_types = {
            "all",
            "unknown",
            "opreturn",
            "immature",
            "p2pk",
            "p2pkh",
            "p2sh",
            "p2wpkh",
            "p2wsh",
            "p2shp2wpkh",
            "p2shp2wsh",
            "p2ms",
        }
        minimum_sum, types_start = Decimal(0), 2
        if len(params) >= 2:
            if params[1].lower() in known_types:
                types_start = 1
            else:
                try:
                    minimum_sum = Decimal(params[1])
                except ArithmeticError:
                    raise JsonRpcFailure(-32602, "couldn't unmarshal request parameters") from None
        types = {p.lower() for p in params[types_start:] if p.lower() in known_types}
        all_types = len(params) < 2 or "all" in types or not types
        minimum_sat = int(minimum_sum * 10**8)
        tip = self._tip()
        result, safe_sum = [], 0
        for outpoint, coin in self._coins_of(address_hex):
            kind = classify_script(coin.script_pubkey).value
            if not all_types and kind.lower() not in types:
                continue
            safe = self._is_mature(coin, tip)
            if not safe and not all_types and "immature" not in types:
                continue
            result.append(
                {
                    "address": hex_to_base58(address_hex, self.network),
                    "txid": outpoint.txid,
                    "vout": outpoint.vout,
                    "amount": _format_qtum_amount(coin.value),
                    "safe": safe,
                    "spendable": True,
                    "confirmations": tip - coin.height,
                    "height": coin.height,
                    "type": kind,
                    "scriptPubKey": coin.script_pubkey.hex(),
                }
            )
            safe_sum += coin.value if safe else 0
            if minimum_sat and safe_sum >= minimum_sat:
                return result
        if minimum_sat:
            raise JsonRpcFailure(JANUS_CALLBACK_ERROR, "required minimum amount is greater than total amount of UTXOs")
        return result

    # ---- HTTP --------------------------------------------------------------

    def dispatch(self, request: Any) -> dict[str, Any]:
        """Answer one decoded JSON-RPC request object."""
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            return {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "invalid request"}}
        request_id = request.get("id")
        method = self._methods.get(request["method"])
        params = request.get("params") or []
        try:
            if method is None:
                raise JsonRpcFailure(-32601, f"The method {request['method']} does not exist/is not available")
            if not isinstance(params, list):
                raise JsonRpcFailure(-32602, "params must be an array")
            with self._lock:
                result = method(params)
        except JsonRpcFailure as failure:
            return {"jsonrpc": "2.0", "id": request_id, "error": {"code": failure.code, "message": failure.message}}
        except Exception as error:  # a bug in the double: answer, don't drop the connection
            message = f"janus test double internal error: {type(error).__name__}: {error}"
            return {"jsonrpc": "2.0", "id": request_id, "error": {"code": -32603, "message": message}}
        return {"jsonrpc": "2.0", "id": request_id, "result": result}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        double = self

        class JanusTestDoubleHandler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    request = json.loads(body)
                except ValueError:
                    response = {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}}
                else:
                    response = double.dispatch(request)
                payload = json.dumps(response).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

        return JanusTestDoubleHandler
