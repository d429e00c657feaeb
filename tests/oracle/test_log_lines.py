"""Every log line is JSON, including the standard-library loggers of meter libraries
(dsmr_parser logs its parse errors there), so `journalctl -o cat | jq` never chokes."""

from __future__ import annotations

import io
import json
import logging

import structlog

from oracle.logs import configure_logging


def test_library_log_records_are_json_lines_on_the_same_stream(capfd):
    stream = io.StringIO()
    stream.isatty = lambda: False  # type: ignore[method-assign]
    try:
        configure_logging("json", "info", stream=stream)
        structlog.get_logger("oracle").info("ours", meter_id=1)
        logging.getLogger("dsmr_parser.parsers").error("Unable to parse telegram: %s", "garbage")
        logging.getLogger("dsmr_parser").debug("below warning: dropped")
        lines = [json.loads(line) for line in stream.getvalue().splitlines()]
        assert [line["event"] for line in lines] == ["ours", "Unable to parse telegram: garbage"]
        assert lines[1]["logger"] == "dsmr_parser.parsers" and lines[1]["level"] == "error"
        assert capfd.readouterr().err == "", "nothing on stderr"
    finally:
        configure_logging("json", "debug")
