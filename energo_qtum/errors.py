"""One exception family for the package, so callers can catch ``QtumError``.

Every error carries ``user_message``: a sentence an operator can act on, which the
CLI prints to stderr instead of a traceback.
"""

from __future__ import annotations


class QtumError(Exception):
    """Base class of every error raised by energo_qtum."""

    def __init__(self, user_message: str):
        super().__init__(user_message)
        self.user_message = user_message


class InvalidKeyError(QtumError):
    """A private key that is neither 64 hex digits nor a valid WIF string."""


class InvalidAddressError(QtumError):
    """A Qtum address (base58 or hash160 hex) that does not decode or checksum."""


class InvalidSpecError(QtumError):
    """A transaction spec (JSON or keyword arguments) that is missing or malformed."""


class TransactionFormatError(QtumError):
    """Bytes that do not parse as a legacy Qtum transaction or script."""


class PreSigningCheckError(QtumError):
    """A transaction refused before signing because Qtum would reject it."""


class GasPriceTooLowError(PreSigningCheckError):
    """Gas price under Qtum's minimum of 40 satoshi per gas."""


class GasLimitOutOfRangeError(PreSigningCheckError):
    """Gas limit outside the range this library accepts."""


class InvalidSenderInputError(PreSigningCheckError):
    """First input is not P2PKH or P2PK, so Qtum cannot derive msg.sender from it."""


class InsufficientFundsError(PreSigningCheckError):
    """The spendable coins do not cover outputs, gas and the size fee."""


class JanusRpcError(QtumError):
    """Janus answered with a JSON-RPC error, or could not be reached."""

    def __init__(self, user_message: str, code: int | None = None, method: str | None = None):
        super().__init__(user_message)
        self.code = code
        self.method = method


class ReceiptTimeoutError(QtumError):
    """A transaction did not reach the wanted confirmations before the deadline."""
