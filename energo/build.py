"""Compile contracts/ with the pinned solc and export artifacts for the runtime packages.

The compiler is a native ``solc`` of the pinned version when one is on PATH, else the
official WebAssembly build from npm behind ``tools/solc.js`` (no native solc can be
downloaded on our machines). Settings are pinned: evmVersion cancun (Qtum's EVM; solc
0.8.30+ would default to prague), optimizer on. Source unit names are repository-relative,
so the bytecode (metadata hash included) is the same on every machine.

Usage: ``python -m energo.build [--check]``; ``--check`` fails if the committed
artifacts differ from a fresh compile.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from energo.constants import EVM_VERSION, OPTIMIZER_RUNS, SOLC_VERSION
from energo.errors import EnergoError

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
SOURCE_DIRS = ("contracts", "interfaces")
REMAPPINGS = ["@openzeppelin/contracts/=node_modules/@openzeppelin/contracts/"]


class BuildError(EnergoError, RuntimeError):
    """The compiler failed or is missing; the message says what to do."""


def solc_command() -> list[str]:
    native = shutil.which("solc")
    if native:
        out = subprocess.run([native, "--version"], capture_output=True, text=True).stdout
        if f"Version: {SOLC_VERSION}+" in out:
            return [native]
    wrapper = ROOT / "tools" / "solc.js"
    if not (ROOT / "node_modules" / "solc").is_dir():
        raise BuildError("npm package solc is missing: run `make setup` (npm ci) first")
    return ["node", str(wrapper)]


def standard_input() -> dict:
    sources = {}
    for folder in SOURCE_DIRS:
        for path in sorted((ROOT / folder).rglob("*.sol")):
            rel = path.relative_to(ROOT).as_posix()
            sources[rel] = {"content": path.read_text()}
    if not sources:
        raise BuildError("no Solidity sources under contracts/ or interfaces/")
    return {
        "language": "Solidity",
        "sources": sources,
        "settings": {
            "evmVersion": EVM_VERSION,
            "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
            "remappings": REMAPPINGS,
            "outputSelection": {
                "*": {
                    "*": [
                        "abi",
                        "evm.bytecode.object",
                        "evm.deployedBytecode.object",
                        "evm.deployedBytecode.immutableReferences",
                        "evm.methodIdentifiers",
                        "metadata",
                    ]
                }
            },
        },
    }


def _is_library(source: str, name: str) -> bool:
    return re.search(rf"^\s*library\s+{re.escape(name)}\b", source, re.MULTILINE) is not None


def compile_all() -> dict[str, dict]:
    """Returns artifacts by contract name for every deployable contract in contracts/."""
    request = standard_input()
    proc = subprocess.run(
        solc_command() + ["--standard-json", "--base-path", str(ROOT)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        raise BuildError(f"solc failed: {proc.stderr.strip()}")
    output = json.loads(proc.stdout)
    errors = [e for e in output.get("errors", []) if e["severity"] == "error"]
    if errors:
        raise BuildError("\n".join(e["formattedMessage"] for e in errors))
    artifacts = {}
    for source, contracts in output["contracts"].items():
        if not source.startswith("contracts/"):
            continue
        for name, data in contracts.items():
            bytecode = data["evm"]["bytecode"]["object"]
            if not bytecode or _is_library(request["sources"][source]["content"], name):
                continue  # abstract contracts and internal libraries are not deployed
            metadata = json.loads(data["metadata"])
            artifacts[name] = {
                "contractName": name,
                "sourceName": source,
                "compiler": {
                    "version": metadata["compiler"]["version"],
                    "evmVersion": metadata["settings"]["evmVersion"],
                    "optimizer": metadata["settings"]["optimizer"],
                },
                "abi": data["abi"],
                "bytecode": "0x" + bytecode,
                "deployedBytecode": "0x" + data["evm"]["deployedBytecode"]["object"],
                # Byte ranges filled in at deployment, sorted; the compiler keys them by AST
                # ids, which shift whenever any other source changes.
                "immutableReferences": sorted(
                    (ref for refs in data["evm"]["deployedBytecode"].get("immutableReferences", {}).values()
                     for ref in refs),
                    key=lambda ref: ref["start"],
                ),
                "methodIdentifiers": data["evm"]["methodIdentifiers"],
            }
    warnings = [e for e in output.get("errors", []) if e["severity"] == "warning"]
    for warning in warnings:
        print(warning["formattedMessage"], file=sys.stderr)
    return artifacts


def render(artifact: dict) -> str:
    return json.dumps(artifact, indent=1, sort_keys=True) + "\n"


def write(artifacts: dict[str, dict]) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    for stale in ARTIFACTS.glob("*.json"):
        if stale.stem not in artifacts:
            stale.unlink()
    for name, artifact in artifacts.items():
        (ARTIFACTS / f"{name}.json").write_text(render(artifact))


def stale_artifacts(artifacts: dict[str, dict]) -> list[str]:
    """Names whose committed artifact differs from a fresh compile (or is missing/extra)."""
    stale = []
    on_disk = {p.stem for p in ARTIFACTS.glob("*.json")}
    for name in sorted(on_disk | set(artifacts)):
        path = ARTIFACTS / f"{name}.json"
        if name not in artifacts or not path.exists() or path.read_text() != render(artifacts[name]):
            stale.append(name)
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if energo/artifacts is stale")
    args = parser.parse_args(argv)
    try:
        artifacts = compile_all()
    except BuildError as exc:
        print(f"energo.build: {exc}", file=sys.stderr)
        return 1
    if args.check:
        stale = stale_artifacts(artifacts)
        if stale:
            print(f"energo.build: stale artifacts: {', '.join(stale)}; run `make compile`", file=sys.stderr)
            return 1
        print(f"energo.build: {len(artifacts)} artifacts up to date")
        return 0
    write(artifacts)
    for name, artifact in sorted(artifacts.items()):
        size = (len(artifact["deployedBytecode"]) - 2) // 2
        print(f"{name:24s} {size:6d} bytes runtime")
    return 0


if __name__ == "__main__":
    sys.exit(main())
