"""One whole demo run: start the community, run its day with a progress bar, then
report, chart and check, and stop everything (also on Ctrl-C or SIGTERM)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tqdm import tqdm

from energo_community.chart import draw
from energo_community.community import Community, start_community
from energo_community.invariants import Check, check_invariants
from energo_community.options import CommunityOptions
from energo_community.report import collect


@dataclass
class DemoResult:
    report: dict
    checks: list[Check]
    chart: Path
    report_path: Path
    wall_s: float

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)


def _clock_text(options: CommunityOptions, k: int) -> str:
    moment = datetime.fromtimestamp(options.interval_start(k), UTC)
    return f"day {k * options.settlement_s // 86_400 + 1} {moment:%H:%M}"


def run_day(community: Community, progress: bool) -> None:
    options = community.options
    with tqdm(total=options.intervals, unit="interval", disable=not progress, dynamic_ncols=True,
              desc=f"{_clock_text(options, 0)} (simulated)") as bar:
        def advanced(k: int) -> None:
            bar.set_description_str(f"{_clock_text(options, k)} (simulated)", refresh=False)
            bar.update(1)

        community.run(on_interval=advanced)


def finish(community: Community) -> tuple[dict, list[Check], Path, Path]:
    """Report, checks and chart of a community whose day is over (its chain still up)."""
    out = community.options.out
    report = collect(community)
    checks = check_invariants(community)
    report["invariants"] = [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in checks]
    report_path = out / "report.json"
    report_path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    chart = draw(community, out / "community-day.png")
    return report, checks, chart, report_path


def run_demo(options: CommunityOptions, progress: bool = True,
             say: Callable[[str], None] = lambda _line: None,
             after_day: Callable[[Community, DemoResult], None] | None = None) -> DemoResult:
    """Runs the day; `after_day` (e.g. serving the API) runs while chain and gateways are
    still up, and everything stops when it returns or is interrupted."""
    started = time.monotonic()
    with start_community(options, say) as community:
        say(f"running {options.intervals} intervals of {options.settlement} simulated minutes"
            + (f" (meters read every {options.interval_minutes})" if options.settlement != options.interval_minutes else ""))
        run_day(community, progress)
        report, checks, chart, report_path = finish(community)
        result = DemoResult(report, checks, chart, report_path, time.monotonic() - started)
        if after_day is not None:
            after_day(community, result)
    return result
