"""energo_qtum: build, sign and send Qtum (UTXO) transactions from Python.

Janus, the Ethereum JSON-RPC adapter in front of qtumd, only relays Qtum-format raw
transactions, so contract calls and creates are built and signed here. No Ape needed.

    signer = QtumSigner(privkey, "regtest")
    wallet = QtumWallet(JanusClient("http://127.0.0.1:23889"), signer)
    txid, contract_hex = wallet.send_create(bytecode)
    receipt = wallet.wait_receipt(txid, confirmations=1)

See docs/qtum-library.md.
"""

from .builder import (
    CallOutput,
    CreateOutput,
    PayOutput,
    SignedTransaction,
    Utxo,
    build_call_tx,
    build_create_tx,
    build_funded_tx,
    sign_transaction,
)
from .checks import MAX_GAS_LIMIT, MIN_GAS_LIMIT, MIN_GAS_PRICE
from .errors import (
    GasLimitOutOfRangeError,
    GasPriceTooLowError,
    InsufficientFundsError,
    InvalidAddressError,
    InvalidKeyError,
    InvalidSenderInputError,
    InvalidSpecError,
    JanusRpcError,
    PreSigningCheckError,
    QtumError,
    ReceiptTimeoutError,
    TransactionFormatError,
)
from .fees import DEFAULT_FEE_RATE_SAT_PER_KB, FeePolicy
from .janus import JanusClient
from .keys import QtumAddress, QtumSigner, base58_to_hex, hex_to_base58, sender_address
from .networks import MAINNET, REGTEST, TESTNET, QtumNetwork, get_network
from .spec import sign_spec
from .tx import Transaction, contract_address, parse_transaction
from .wallet import QtumWallet

__all__ = [
    "CallOutput",
    "CreateOutput",
    "PayOutput",
    "SignedTransaction",
    "Utxo",
    "build_call_tx",
    "build_create_tx",
    "build_funded_tx",
    "sign_transaction",
    "sign_spec",
    "MAX_GAS_LIMIT",
    "MIN_GAS_LIMIT",
    "MIN_GAS_PRICE",
    "DEFAULT_FEE_RATE_SAT_PER_KB",
    "FeePolicy",
    "QtumError",
    "PreSigningCheckError",
    "GasLimitOutOfRangeError",
    "GasPriceTooLowError",
    "InsufficientFundsError",
    "InvalidSenderInputError",
    "InvalidAddressError",
    "InvalidKeyError",
    "InvalidSpecError",
    "JanusRpcError",
    "ReceiptTimeoutError",
    "TransactionFormatError",
    "JanusClient",
    "QtumWallet",
    "QtumAddress",
    "QtumSigner",
    "base58_to_hex",
    "hex_to_base58",
    "sender_address",
    "MAINNET",
    "TESTNET",
    "REGTEST",
    "QtumNetwork",
    "get_network",
    "Transaction",
    "contract_address",
    "parse_transaction",
]
