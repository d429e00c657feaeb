"""Structured logs: JSON lines when stdout is not a terminal (journald, files), pretty otherwise.

Work units bind their ids (meter_id, batch_id, tx_hash) and end with one canonical line.
"""

from __future__ import annotations

import logging
import sys

import structlog

_HANDLER_NAME = "energo-oracle"
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
    # Libraries (dsmr_parser, pymodbus, web3, urllib3) log through the standard library:
    # their warnings go through the same renderer onto the same stream, so with JSON every
    # line is one JSON object (`journalctl -o cat | jq` never meets a plain-text line).
    handler = logging.StreamHandler(stream)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
        foreign_pre_chain=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="time"),
        ],
    ))
    handler.set_name(_HANDLER_NAME)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME or isinstance(h, logging.StreamHandler)
                and getattr(h, "stream", None) in (sys.stderr, sys.stdout)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


def get_logger(name: str = "oracle", **bound):
    return structlog.get_logger(name).bind(**bound)
