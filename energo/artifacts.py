"""ABIs and bytecode exported by ``python -m energo.build`` (one source of truth)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@cache
def load(name: str) -> dict:
    path = ARTIFACTS / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"no artifact {name!r} in {ARTIFACTS}: run `make compile`")
    return json.loads(path.read_text())


def abi(name: str) -> list:
    return load(name)["abi"]
