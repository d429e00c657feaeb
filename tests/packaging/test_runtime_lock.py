"""The runtime lock is enough for a gateway or an API host, and brings no development tool.

requirements.lock is the runtime closure (docs/gateway-install.md installs it and then the
package with --no-deps); requirements-dev.lock is that plus the demo and dev extras.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_LOCK = ROOT / "requirements.lock"
DEV_LOCK = ROOT / "requirements-dev.lock"

# Development tools that must never land on a gateway.
DEV_ONLY = {"eth-ape", "ape-solidity", "ape-foundry", "pytest", "playwright", "hypothesis", "schemathesis",
            "matplotlib", "energo-testkit"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path) -> dict[str, str]:
    """name -> version of every pin, following `-r other.lock` includes; only exact pins."""
    pins: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith(("-r ", "--requirement ")):
            included = read_lock(path.parent / line.split(None, 1)[1])
            for name, version in included.items():
                assert pins.get(name, version) == version, f"{path.name}: {name} pinned twice"
            pins.update(included)
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!_-]+)", line)
        assert match, f"{path.name}: not an exact pin: {raw!r}"
        name, version = canonical(match[1]), match[2]
        assert pins.get(name, version) == version, f"{path.name}: {name} pinned twice with different versions"
        pins[name] = version
    return pins


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_dev_lock_repeats_every_runtime_pin_and_pins_the_extras():
    runtime, dev = read_lock(RUNTIME_LOCK), read_lock(DEV_LOCK)
    differing = {name: (version, dev.get(name)) for name, version in runtime.items() if dev.get(name) != version}
    assert not differing, f"runtime pins missing or different in the dev lock: {differing}"

    declared = [Requirement(r) for r in project()["dependencies"]]
    unpinned = [str(r) for r in declared if canonical(r.name) not in runtime]
    assert not unpinned, f"[project] dependencies without a pin in requirements.lock: {unpinned}"

    extras = project()["optional-dependencies"]
    assert set(extras) == {"demo", "dev"}
    unpinned = [r for group in extras.values() for r in group if canonical(Requirement(r).name) not in dev]
    assert not unpinned, f"extras without a pin in requirements-dev.lock: {unpinned}"

    on_gateway = DEV_ONLY & set(runtime)
    assert not on_gateway, f"development tools in the runtime lock: {on_gateway}"


def _copy_source(dest: Path) -> Path:
    """The source tree without venvs, node_modules or build output (setuptools builds in the tree)."""
    ignore = shutil.ignore_patterns(".git", ".venv", "node_modules", ".build", ".cache", "build", "demo-out",
                                    "*.egg-info", "__pycache__", "*.pyc", ".pytest_cache", ".ruff_cache",
                                    ".mypy_cache", ".hypothesis", "*.sqlite*")
    shutil.copytree(ROOT, dest, ignore=ignore)
    return dest


@pytest.mark.slow
def test_a_venv_from_the_runtime_lock_alone_runs_the_gateway_and_the_api(tmp_path):
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}

    def run(*args, cwd=tmp_path, timeout=600):
        done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, f"{' '.join(map(str, args))}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    # The venv's packages come only from the lock: this test's pip (pinned like the
    # Makefile's, and sharing its cache) installs into it with --python.
    run(sys.executable, "-m", "venv", "--without-pip", str(venv))
    pip = [sys.executable, "-m", "pip", "--python", str(python), "--disable-pip-version-check"]
    run(*pip, "install", "--quiet", "--no-compile", "-r", str(RUNTIME_LOCK))
    source = _copy_source(tmp_path / "src")
    run(*pip, "install", "--quiet", "--no-compile", "--no-deps", "--no-build-isolation", str(source))
    run(*pip, "check")

    # Exactly the lock plus energo itself: nothing missing (pip check), nothing unpinned.
    installed = json.loads(run(str(python), "-c", "import importlib.metadata as m, json;"
                               " print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"))
    installed = {canonical(name): version for name, version in installed.items()}
    assert installed.pop("energo") == project()["version"]
    assert installed == read_lock(RUNTIME_LOCK)
    assert not DEV_ONLY & set(installed), f"development tools on the gateway: {DEV_ONLY & set(installed)}"

    assert "meter gateway" in run(str(venv / "bin" / "energo-oracle"), "--help")
    assert "Usage" in run(str(venv / "bin" / "energo-qtum"), "--help")
    # Run away from the source tree, so the imports come from the venv.
    where = run(str(python), "-c", "import frontend_api, frontend_api.main, oracle, energo_qtum;"
                " print(frontend_api.main.STATIC)").strip()
    assert Path(where).is_relative_to(venv), where
    assert (Path(where) / "index.html").is_file(), "the household page's files are not in the package"
