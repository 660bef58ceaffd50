"""Project hygiene that CI must enforce: lint, manifest, Qt-free core, README/CI agreement."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _readme_test_command() -> str:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:bash|sh)\n(.*?)```", text, flags=re.S)
    commands = [line.strip() for b in blocks for line in b.splitlines() if "pytest" in line]
    assert len(commands) == 1, f"README must give exactly one test command, found {commands}"
    return commands[0]


def test_ci_runs_exactly_the_readme_test_command():
    command = _readme_test_command()
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert command in ci_lines


def test_ruff_lint_and_format_are_clean():
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.fail("ruff is a test dependency: pip install -e '.[testing]'")
    lint = subprocess.run([ruff, "check", str(ROOT)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = subprocess.run([ruff, "format", "--check", str(ROOT)], capture_output=True, text=True)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_npe2_manifest_validates_with_imports():
    result = subprocess.run(
        [sys.executable, "-m", "npe2", "validate", "napari_catrack", "--imports"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _python_prints(code: str) -> str:
    """What `code` prints, run in a fresh interpreter (so only what it imports is loaded)."""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_core_io_and_cli_do_not_import_qt():
    code = (
        "import sys, importlib, pkgutil, napari_catrack.core, napari_catrack.io\n"
        "for pkg in (napari_catrack.core, napari_catrack.io):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(m.name)\n"
        "import napari_catrack.cli, napari_catrack.session, napari_catrack.synthetic\n"
        "import napari_catrack.export, napari_catrack.export.write, napari_catrack.io.nwb\n"
        "import napari_catrack.batch.runner, napari_catrack.batch.manifest\n"
        "napari_catrack.cli.build_parser()\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('PyQt5', 'PyQt6', 'PySide2', 'PySide6', 'qtpy', 'napari', 'magicgui'))\n"
        "print(','.join(bad))\n"
    )
    printed = _python_prints(code)
    assert printed == "", f"Qt/napari imported by the core: {printed}"


def test_a_commands_help_imports_no_heavy_library():
    """`catrack COMMAND --help` builds only that command's parser: it must not pay for scipy,
    pandas, scikit-image or torch (`catrack align --help` took 0.6 s once a calibration
    module it imported for two option lists pulled in scipy; `summary` imported scipy for the
    peak-to-noise filter at registration)."""
    code = (
        "import sys\n"
        "from napari_catrack.cli import _commands, build_parser\n"
        "for name in _commands():\n"
        "    build_parser(name)\n"
        "    heavy = [m for m in ('scipy', 'pandas', 'skimage', 'torch') if m in sys.modules]\n"
        "    if heavy:\n"
        "        print(name, heavy)\n"
        "        break\n"
    )
    printed = _python_prints(code)
    assert printed == "", f"a command's parser imports: {printed}"


def _requirement_names(specs) -> set[str]:
    return {re.split(r"[\s<>=!;\[]", s.strip().strip('"'), maxsplit=1)[0].lower().replace("_", "-")
            for s in specs if s.strip()}  # fmt: skip


def test_lean_install_in_installation_md_names_every_dependency():
    """docs/installation.md's lean install (--no-deps, then the core packages and the extras
    wanted) must together name every dependency of pyproject.toml: it left out lazy_loader
    (every core package imports it) and tomli (TOML manifests on Python 3.10)."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    needed = _requirement_names(project["dependencies"])
    text = (ROOT / "docs" / "installation.md").read_text()
    block = re.search(r"pip install --no-deps napari-catrack\n(.*?)```", text, re.S).group(1)
    named = set()
    for line in block.replace("\\\n", " ").splitlines():
        line = line.split("#")[0]
        if line.strip().startswith("pip install"):
            named |= _requirement_names(re.findall(r'"[^"]+"|\S+', line.strip())[2:])
    extras = set()
    for name in ("sam", "learned", "nwb", "batch", "video"):
        extras |= _requirement_names(project["optional-dependencies"][name])
    assert needed - named - extras == set()


# Third-party modules the code imports without a line of their own in pyproject.toml: each is a
# requirement of the dependency named (checked below against that package's own metadata), so a
# release of it that dropped one would break us. A module not here needs a dependency line.
THROUGH_A_DEPENDENCY = {
    "cycler": "matplotlib",  # figures.style's colour cycle (matplotlib's own rcParams type)
    "hdmf": "pynwb",  # the NWB writers (pynwb is built on it)
    "pint": "napari",  # layer units (napari's own unit type)
    "psutil": "napari",  # whether a session's owner process lives (guarded: optional)
    "qtpy": "napari",  # widgets (napari's Qt binding layer)
}


def _imported_modules() -> dict[str, set[str]]:
    """Top-level third-party module -> the src files that import it (absolute imports)."""
    import ast
    import sys

    found: dict[str, set[str]] = {}
    for path in (ROOT / "src").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "napari_catrack":
                    found.setdefault(top, set()).add(path.relative_to(ROOT).as_posix())
    return found


def test_every_imported_package_is_declared():
    """Every third-party package the code imports is a dependency (or in an extra) of
    pyproject.toml, or one of THROUGH_A_DEPENDENCY, which the named dependency itself requires.
    h21: Pillow (io.tiff reads PNG/JPEG frames with it) had no line of its own, only through
    matplotlib, scikit-image and napari; fails on the old pyproject.toml ('PIL')."""
    import importlib.metadata as md
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = _requirement_names(project["dependencies"])
    for specs in project["optional-dependencies"].values():
        declared |= _requirement_names(specs)
    dists = md.packages_distributions()  # import name -> installed distributions
    missing = {}
    for module, files in _imported_modules().items():
        names = {d.lower().replace("_", "-") for d in dists.get(module, [module])}
        if names & declared or module in THROUGH_A_DEPENDENCY:
            continue
        missing[module] = sorted(files)
    assert missing == {}, "imported but not declared in pyproject.toml"
    for module, parent in THROUGH_A_DEPENDENCY.items():
        wanted = {d.lower().replace("_", "-") for d in dists.get(module, [module])}
        required = _requirement_names(md.requires(parent) or [])
        assert wanted & required, f"{parent} no longer requires {module}: declare it"
