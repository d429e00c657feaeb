"""The community demo (`python -m energo_community`, `make demo`): a microgrid's day, end to end.

A local Qtum-like chain, the deployment engine, registered households and the shared
battery, the real gateway daemons signing and batching simulated meter readings, trading
agents on the market, and at the end a report, a chart and invariant checks read from
the chain. See docs/demo.md.

Entry points:

- ``run_demo(options)``: the whole run as `make demo` does it; returns a ``DemoResult``.
- ``start_community(options)``: the running community (chain, contracts, gateways), for
  callers that keep it alive after the day (``--serve``); ``Community.handles()``
  says where everything is.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from energo_community.community import Community, CommunityHandles, start_community
    from energo_community.options import CommunityOptions
    from energo_community.run import DemoResult, run_demo

__all__ = ["Community", "CommunityHandles", "CommunityOptions", "DemoResult", "run_demo", "start_community"]

_HOMES = {"Community": "community", "CommunityHandles": "community", "start_community": "community",
          "CommunityOptions": "options", "DemoResult": "run", "run_demo": "run"}


def __getattr__(name: str):
    # Lazy, so `python -m energo_community` starts its clock before the heavy imports.
    if name in _HOMES:
        return getattr(import_module(f"energo_community.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'energo_community' has no attribute {name!r}")
