"""Structured logs: JSON lines when stdout is not a terminal (journald, files), pretty otherwise.

Work units bind their ids (meter_id, batch_id, tx_hash) and end with one canonical line.
"""

from __future__ import annotations

import logging
import sys

import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def configure_logging(format: str = "auto", level: str = "info", stream=None) -> None:
    stream = stream or sys.stdout
    as_json = format == "json" or (format == "auto" and not stream.isatty())
    renderer = structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            # "time", not "timestamp": readings carry their own timestamp field.
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="time"),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
    # Libraries (pymodbus, web3, urllib3) log through the standard library: keep only
    # their warnings, on stderr, so our stdout stays one JSON object per line.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


def get_logger(name: str = "oracle", **bound):
    return structlog.get_logger(name).bind(**bound)
