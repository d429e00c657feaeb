"""One exception base for the daemon; each carries a message meant for the operator."""

from __future__ import annotations


class OracleError(Exception):
    """Base of the daemon's errors. ``user_message`` is what the operator reads."""

    exit_code = 1

    def __init__(self, user_message: str):
        super().__init__(user_message)
        self.user_message = user_message


class ConfigError(OracleError):
    """The configuration is wrong; restarting will not help (exit code 2)."""

    exit_code = 2


class KeystoreError(ConfigError):
    """A keystore or its passphrase is missing or wrong."""


class DeploymentMismatch(ConfigError):
    """The chain or contract at the configured address is not the one configured."""


class GaveUp(OracleError):
    """Too many failures in a row; exit non-zero so the supervisor restarts us."""
