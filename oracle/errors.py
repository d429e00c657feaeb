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


class StorageError(OracleError):
    """The outbox cannot be written or read back (disk full, I/O error, corrupt pages).

    Exit code 3: the daemon stops reading meters into a store it cannot write and exits;
    the supervisor restarts it with backoff, and it goes on once the store is writable.
    """

    exit_code = 3


class SenderUnfunded(OracleError):
    """The sender cannot pay for gas; says the address to fund and the amount needed.

    Not fatal: the daemon keeps reading meters into the outbox and checks the balance
    again now and then (a restart could not help, so it never exits for this).
    """
