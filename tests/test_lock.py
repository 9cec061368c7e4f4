"""constraints.txt is the lock: the exact versions the suite passed with, installed by README's
commands and by .ci/run (into a fresh virtual environment)."""

import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pip vendors the same parser
    from pip._vendor import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _locked() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, pinned = line.partition("==")
            pins[_norm(name)] = pinned.strip()
    return pins


def _public(v: str) -> str:
    return v.split("+")[0]  # torch's CPU wheel is 2.13.0+cpu; the lock says 2.13.0


def test_installed_versions_equal_the_lock():
    mismatched = []
    for name, pinned in _locked().items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            installed = "(not installed)"
        if _public(installed) != pinned:
            mismatched.append(f"{name}: lock {pinned}, installed {installed}")
    assert not mismatched, (
        "this environment is not the lock; install with README's command "
        "(pip install -c constraints.txt ...):\n" + "\n".join(mismatched)
    )


def test_every_dependency_is_locked_at_or_above_its_lower_bound():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + project["optional-dependencies"]["dev"]
    locked = _locked()
    for text in requirements:
        req = Requirement(text)
        assert _norm(req.name) in locked, f"{req.name} is a dependency but not in constraints.txt"
        assert Version(locked[_norm(req.name)]) in req.specifier, (
            f"constraints.txt pins {req.name}=={locked[_norm(req.name)]}, outside '{text}'"
        )
