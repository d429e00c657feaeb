"""Checks made before anything is signed, so a transaction Qtum would refuse never
leaves the machine. Each failure is its own ``PreSigningCheckError`` subclass."""

from __future__ import annotations

from .errors import (
    GasLimitOutOfRangeError,
    GasPriceTooLowError,
    InsufficientFundsError,
    InvalidSenderInputError,
)
from .script import ScriptType, classify_script

# Qtum's DGP minimum gas price (qtumDGP.h DEFAULT_MIN_GAS_PRICE_DGP), in satoshi per gas.
MIN_GAS_PRICE = 40
# Below this qtumd refuses the transaction into its mempool (MEMPOOL_MIN_GAS_LIMIT).
MIN_GAS_LIMIT = 22_000
# Our own ceiling: half of Qtum's 40,000,000 block gas limit, so one transaction can
# never fill a block, and a runaway estimate cannot lock up 0.8 QTUM of stipend.
MAX_GAS_LIMIT = 20_000_000

SATOSHI_PER_QTUM = 100_000_000


def check_gas_price(gas_price: int) -> None:
    if gas_price < MIN_GAS_PRICE:
        raise GasPriceTooLowError(f"gas price {gas_price} sat/gas is below Qtum's minimum of {MIN_GAS_PRICE} sat/gas")


def check_gas_limit(gas_limit: int) -> None:
    if not MIN_GAS_LIMIT <= gas_limit <= MAX_GAS_LIMIT:
        raise GasLimitOutOfRangeError(f"gas limit {gas_limit} is outside {MIN_GAS_LIMIT:,}..{MAX_GAS_LIMIT:,}")


def check_sender_input(script_pubkey: bytes) -> None:
    """Qtum takes msg.sender from the output the first input spends (CheckSenderScript)."""
    kind = classify_script(script_pubkey)
    if kind not in (ScriptType.P2PKH, ScriptType.P2PK):
        raise InvalidSenderInputError(
            f"the first input spends a {kind.value} output; Qtum needs P2PKH or P2PK there to know msg.sender"
        )


def check_funds(available_sat: int, needed_sat: int) -> None:
    if available_sat < needed_sat:
        raise InsufficientFundsError(
            f"not enough funds: {format_qtum(available_sat)} QTUM spendable, "
            f"{format_qtum(needed_sat)} QTUM needed (outputs + gas + fee)"
        )


def format_qtum(satoshi: int) -> str:
    whole, fraction = divmod(satoshi, SATOSHI_PER_QTUM)
    return f"{whole}.{fraction:08d}"
