"""Token amounts as exact decimal strings (in) and (out); energy in whole Wh."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from energo.constants import TSL
from energo.facts import cost_tsl, wh_to_watt

UINT256_MAX = 2**256 - 1


def fmt_units(amount: int, decimals: int = 18) -> str:
    """Base units -> a decimal string without trailing zeros: 2018230000000000000000 -> '2018.23'."""
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(int(amount)), 10**decimals)
    frac_s = str(frac).rjust(decimals, "0").rstrip("0")
    return f"{sign}{whole}.{frac_s}" if frac_s else f"{sign}{whole}"


def parse_units(text: str, decimals: int = 18, what: str = "amount") -> int:
    """A decimal string -> base units; refuses negatives, exponents and excess precision."""
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, AttributeError):
        raise ValueError(f"{what} {text!r} is not a decimal number") from None
    if not value.is_finite() or "e" in text.lower():
        raise ValueError(f"{what} {text!r} is not a plain decimal number")
    if value <= 0:
        raise ValueError(f"{what} must be positive, got {text}")
    scaled = value * (10**decimals)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{what} {text} has more than {decimals} decimal places")
    if scaled > UINT256_MAX:
        raise ValueError(f"{what} {text} is too large")
    return int(scaled)


def tsl(amount: int) -> str:
    return fmt_units(amount)


def watt(amount: int) -> str:
    return fmt_units(amount)


__all__ = ["TSL", "fmt_units", "parse_units", "tsl", "watt", "wh_to_watt", "cost_tsl"]
