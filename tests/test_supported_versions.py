"""pyproject.toml's Python and dependency bounds must be the versions docs/installation.md says
were installed and tested ("Supported versions"). CI installs only the newest releases, so a
bound raised by a dependency (laptrack 0.17 pins scipy 1.14.1) or by our code (tifffile's zarr 3
stores) goes unnoticed; this keeps the declared bounds, the classifiers, ruff's target and tox's
envs tied to the table of what was checked by hand (the exact commands are in that section)."""

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _section(heading: str) -> str:
    text = (ROOT / "docs" / "installation.md").read_text()
    match = re.search(rf"^#+ {re.escape(heading)}\n(.*?)(?=^#+ |\Z)", text, re.S | re.M)
    assert match, f"docs/installation.md has no section {heading!r}"
    return match.group(1)


def _table(heading: str) -> list[list[str]]:
    """The rows (cells stripped of backticks) of the first table in the section `heading`."""
    rows = [line for line in _section(heading).splitlines() if line.startswith("|")]
    return [[c.strip().strip("`") for c in r.strip("|").split("|")] for r in rows[2:]]


def _lower_bounds(specs: list[str]) -> dict[str, Version]:
    """Each requirement's `>=` bound, by normalised name (those without a marker or that apply)."""
    bounds = {}
    for spec in specs:
        req = Requirement(spec)
        if req.marker is not None and not req.marker.evaluate():
            continue
        lower = [Version(s.version) for s in req.specifier if s.operator == ">="]
        assert len(lower) == 1, f"{spec}: one >= lower bound expected"
        bounds[req.name.lower().replace("_", "-")] = lower[0]
    return bounds


def test_each_lower_bound_is_the_oldest_version_checked():
    """Every dependency's lower bound is the oldest version of the table, and no row is stale."""
    bounds = _lower_bounds(_project()["project"]["dependencies"])
    rows = _table("Dependency versions checked")
    table = {r[0].lower().replace("_", "-"): Version(r[1]) for r in rows}
    assert set(table) == set(bounds)
    differ = {n: (str(bounds[n]), str(table[n])) for n in bounds if bounds[n] != table[n]}
    assert differ == {}, "pyproject.toml bound vs docs/installation.md oldest checked"


def test_extras_repeat_the_main_bounds():
    """An extra that repeats a dependency (pynwb in nwb, zarr in testing) repeats its lower bound:
    raising only the main list's pynwb>=4.0 to 4.2 would leave `pip install .[nwb]` at 4.0."""
    project = _project()["project"]
    main = _lower_bounds(project["dependencies"])
    for name, specs in project["optional-dependencies"].items():
        for pkg, bound in _lower_bounds([s for s in specs if "napari-catrack" not in s]).items():
            assert pkg not in main or main[pkg] == bound, f"extra {name}: {pkg}>={bound}"


def test_python_versions_agree_with_the_versions_checked():
    """requires-python, the classifiers, ruff's target-version and tox's envs all name exactly
    the Python versions the table marks supported (3.10 was declared and never installed)."""
    data = _project()
    rows = _table("Supported versions")
    supported = sorted({r[0] for r in rows if r[1] == "yes"}, key=Version)
    assert supported, "no supported Python in the table"
    oldest = supported[0]
    assert data["project"]["requires-python"] == f">={oldest}"
    classifiers = {
        c.rsplit(" :: ", 1)[1]
        for c in data["project"]["classifiers"]
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    }
    assert sorted(classifiers, key=Version) == supported
    assert data["tool"]["ruff"]["target-version"] == "py" + oldest.replace(".", "")
    tox = (ROOT / "tox.ini").read_text()
    envs = re.search(r"envlist = py\{([\d,]+)\}", tox).group(1).split(",")
    assert envs == [v.replace(".", "") for v in supported]
    assert f"Python {oldest} or newer" in (ROOT / "docs" / "installation.md").read_text()
    assert f"Python {oldest}+" in (ROOT / "README.md").read_text()
