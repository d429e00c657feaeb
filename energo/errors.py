"""One exception base for everything Energo raises on purpose.

Each error says what went wrong and what to do in ``user_message`` (the same text as
``str(exc)`` unless a subclass says more), as web3.py's exceptions do. Subclasses also
derive from the built-in that fits (``ValueError`` for bad input), so callers that
catch those keep working.
"""

from __future__ import annotations


class EnergoError(Exception):
    """Base of the errors raised by Energo's packages."""

    @property
    def user_message(self) -> str:
        return str(self)
