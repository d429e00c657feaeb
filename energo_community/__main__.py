"""`python -m energo_community` (`make demo`): a community microgrid's day, end to end.

Exit codes: 0 when every invariant holds, 1 when one fails, 2 for bad options or a run
that could not go on, 130 when interrupted (Ctrl-C, SIGTERM); chain and gateways are
stopped in every case.
"""

from __future__ import annotations

import time

_STARTED = time.monotonic()  # the wall time printed at the end includes start-up and imports

import argparse  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

from energo_community.chainlog import DemoError  # noqa: E402
from energo_community.invariants import format_checks  # noqa: E402
from energo_community.options import CommunityOptions, OptionsError  # noqa: E402
from energo_community.report import format_report  # noqa: E402
from energo_community.run import run_demo  # noqa: E402


def parse_args(argv: list[str] | None = None) -> tuple[CommunityOptions, bool, bool, int, bool]:
    """The options, whether to show the progress bar, whether to serve, the port, and
    whether to compare the settlement cadences."""
    parser = argparse.ArgumentParser(prog="python -m energo_community", description=__doc__.split("\n\n")[0])
    parser.add_argument("--households", type=int, default=24, help="households in the community (default 24)")
    parser.add_argument("--days", type=int, default=1, help="simulated days (default 1)")
    parser.add_argument("--mode", choices=("continuous", "auction"), default="continuous",
                        help="market: continuous double auction or 15-minute call auction (default continuous)")
    parser.add_argument("--seed", type=int, default=1, help="the community and its trading (default 1)")
    parser.add_argument("--out", type=Path, default=Path("demo-out"), help="output directory (default demo-out)")
    parser.add_argument("--interval-minutes", type=int, default=15,
                        help="simulated minutes between meter readings (default 15)")
    parser.add_argument("--settlement-minutes", type=int, default=None,
                        help="submit readings, place orders and clear rounds every N minutes (15, 30, 60; a "
                             "multiple of --interval-minutes; default: every interval)")
    parser.add_argument("--compare-cadences", action="store_true",
                        help="run the day settled every 15, 30 and 60 minutes and compare what the chain costs")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--serve", action="store_true",
                        help="after the day, keep chain and gateways up and serve the API and page until Ctrl-C")
    parser.add_argument("--port", type=int, default=8000, help="the API's port with --serve (default 8000)")
    args = parser.parse_args(argv)
    try:
        options = CommunityOptions(households=args.households, days=args.days, mode=args.mode, seed=args.seed,
                                   out=args.out, interval_minutes=args.interval_minutes,
                                   settlement_minutes=args.settlement_minutes)
    except OptionsError as exc:
        parser.error(str(exc))
    if args.compare_cadences:
        if args.serve or args.settlement_minutes is not None:
            parser.error("--compare-cadences runs the day at its own cadences: no --settlement-minutes, no --serve")
        from energo_community.cadences import CADENCES
        try:
            for minutes in CADENCES:
                replace(options, settlement_minutes=minutes)
        except OptionsError as exc:
            parser.error(f"--compare-cadences ({', '.join(map(str, CADENCES))} minutes): {exc}")
    return options, not args.no_progress, args.serve, args.port, args.compare_cadences


def _interrupt(signum, _frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _print_result(result) -> None:
    print()
    print(format_report(result.report))
    print()
    print("Invariants (checked against the chain)")
    print(format_checks(result.checks))
    print()
    print(f"report: {result.report_path}   chart: {result.chart}")
    print(f"wall time: {time.monotonic() - _STARTED:.1f} s", flush=True)


def _compare(options: CommunityOptions, progress: bool, say) -> int:
    from energo_community.cadences import compare, format_table
    try:
        rows = compare(options, progress=progress, say=say)
    except KeyboardInterrupt:
        print("\ninterrupted: gateways and chain stopped", file=sys.stderr, flush=True)
        return 130
    except DemoError as exc:
        print(f"\nthe demo could not go on: {exc}", file=sys.stderr, flush=True)
        return 2
    print()
    print(f"The same day settled at each cadence ({options.households} households, seed {options.seed}; "
          f"gas per household-day, QTUM at 40 sat/gas)")
    print(format_table(rows))
    print(f"\ntable: {options.out / 'cadences.json'}   wall time: {time.monotonic() - _STARTED:.1f} s", flush=True)
    return 0 if all(r["ok"] for r in rows) else 1


def main(argv: list[str] | None = None) -> int:
    options, progress, serve, port, compare = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)

    def say(line: str) -> None:
        print(line, flush=True)

    if compare:
        return _compare(options, progress, say)

    after_day = None
    if serve:
        from energo_community.serve import serve_until_interrupted

        def after_day(community, result) -> None:
            _print_result(result)
            serve_until_interrupted(community, port, say)

    try:
        result = run_demo(options, progress=progress, say=say, after_day=after_day)
    except KeyboardInterrupt:
        if serve:
            print("\nstopped: API, gateways and chain", file=sys.stderr, flush=True)
            return 0
        print("\ninterrupted: gateways and chain stopped", file=sys.stderr, flush=True)
        return 130
    except DemoError as exc:
        print(f"\nthe demo could not go on: {exc}", file=sys.stderr, flush=True)
        return 2
    if not serve:
        _print_result(result)
    if not result.ok:
        failed = ", ".join(c.name for c in result.checks if not c.ok)
        print(f"FAILED invariants: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

