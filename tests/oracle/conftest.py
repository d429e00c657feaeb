"""Fixtures of the oracle tests; the chain fixtures come from energo.testing.fixtures."""

from __future__ import annotations

import pytest

from oracle.logs import configure_logging


@pytest.fixture(autouse=True)
def _json_logs():
    # Tests read the daemon's log lines as JSON, like journald consumers would. Set for
    # each test: a test that captures the output (capfd) leaves the logger bound to a
    # stream that is closed after it, and an in-process daemon of the next test would
    # crash on its first log line.
    configure_logging("json", "debug")


@pytest.fixture
def create_gateway(tmp_path, system, w3):
    """create_gateway(meters=2, ...) -> (settings dict, info): keys made, sender funded,
    household meters registered on the test chain (unless register=False)."""
    from oracle_helpers import gateway_settings

    counter = iter(range(1, 1000))

    def create(**options):
        directory = tmp_path / f"gateway{next(counter)}"
        directory.mkdir()
        return gateway_settings(w3, system, directory, **options)

    return create
