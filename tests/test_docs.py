"""The user guide against the code: every `catrack` command and option the docs write exists, the
command list of docs/index.md and README.md is the parser's, and every figure the docs show is on
disk and made by docs/make_screenshots.py. A renamed option or command fails here, not for a user
who copies the docs."""

from __future__ import annotations

import argparse
import re
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@lru_cache(maxsize=1)
def _options() -> dict[str, set[str]]:
    """Command name -> every option string its parser accepts."""
    from napari_catrack.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {
        name: {o for action in p._actions for o in action.option_strings}
        for name, p in sub.choices.items()
    }


def _code_snippets(text: str) -> list[str]:
    """Command lines of fenced code blocks (continuation lines joined) and inline code spans,
    with shell comments removed."""
    lines = []
    for block in re.findall(r"```[\w-]*\n(.*?)```", text, flags=re.S):
        # a backslash or an indented line continues the command above (synopses are indented)
        lines += re.sub(r"\\?\n(?=[ \t])", " ", block).splitlines()
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    lines += [span.replace("\n", " ") for span in re.findall(r"`([^`]+)`", prose)]
    # indented code blocks (four spaces) that hold a command
    lines += re.findall(r"^ {4,}((?:nice -n \d+ )?(?:catrack|python) .*)$", prose, flags=re.M)
    return [line.split(" #")[0] for line in lines if not line.lstrip().startswith("#")]


def _written_commands(text: str) -> list[tuple[str, list[str], str]]:
    """(command, options, snippet) for each `catrack COMMAND ...` a user could type; a message
    the command prints (`catrack track: alignment ...`) is not one."""
    found = []
    for snippet in _code_snippets(text):
        for m in re.finditer(
            r"(?<![\w-])catrack ([a-z][a-z-]*)(?![\w:-])((?:(?!catrack ).)*)", snippet
        ):
            name, rest = m.groups()
            options = re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", rest)
            found.append((name, options, snippet.strip()))
    return found


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_catrack_command_and_option_in_the_docs_exists(doc):
    options = _options()
    wrong = []
    for name, used, snippet in _written_commands(doc.read_text(encoding="utf-8")):
        if name not in options:
            wrong.append(f"unknown command {name!r} in: {snippet}")
            continue
        wrong += [
            f"catrack {name} has no {o} (in: {snippet})" for o in used if o not in options[name]
        ]
    assert not wrong, "\n".join(wrong)


def test_the_option_check_sees_a_wrong_option_and_skips_messages():
    # guards the parsing above: a drift it cannot see would make the test pass vacuously
    found = _written_commands(
        "```bash\ncatrack track REC --seeds s.csv \\\n    --gaet 6 -o t.csv  # --not-this\n```\n"
        "prints `catrack track: alignment file: ... (--align)`, see `catrack detect --frame F`; "
        "`napari-catrack session` is a format"
    )
    assert found == [
        (
            "track",
            ["--seeds", "--gaet", "-o"],
            "catrack track REC --seeds s.csv      --gaet 6 -o t.csv",
        ),
        ("detect", ["--frame"], "catrack detect --frame F"),
    ]
    assert "--gaet" not in _options()["track"]


def test_docs_index_and_readme_list_exactly_the_commands_of_catrack_help():
    names = set(_options())
    index = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    table = set(re.findall(r"^\| `([a-z-]+)` \|", index, flags=re.M))
    assert table == names
    assert f"lists the {len(names)} commands" in index
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    listed = re.search(r"`catrack --help` lists all steps\s*\((.*?)\)", readme, flags=re.S).group(1)
    assert set(re.findall(r"`([a-z-]+)`", listed)) | {"info"} == names


def test_every_figure_the_docs_show_exists_and_make_screenshots_makes_it():
    shown = set()
    for doc in DOCS:
        for target in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", doc.read_text(encoding="utf-8")):
            path = (doc.parent / target).resolve()
            assert path.is_file(), f"{doc.name} shows {target}, which is missing"
            shown.add(path.name)
    images = ROOT / "docs" / "images"
    on_disk = {p.name for p in images.glob("*.png")}
    made = set(re.findall(r'_save\(viewer, "([\w-]+)"\)', (ROOT / "docs" / "make_screenshots.py")
                          .read_text(encoding="utf-8")))  # fmt: skip
    assert {f"{n}.png" for n in made} == on_disk == shown


def test_every_option_the_docs_name_exists_somewhere():
    """An option named on its own (`--weighting uniform` in a sentence) belongs to a catrack
    command, a benchmark script or a developer script (scripts/); the few of other tools are
    listed here."""
    known = set().union(*_options().values())
    for script in [*(ROOT / "benchmarks").rglob("*.py"), *(ROOT / "scripts").glob("*.py")]:
        known |= set(re.findall(r"""["'](--[\w-]+)["']""", script.read_text(encoding="utf-8")))
    others = {"--no-deps", "--imports", "--nthreads", "--partition", "--opt"}  # pip, npe2, dask
    unknown = []
    for doc in DOCS:
        for snippet in _code_snippets(doc.read_text(encoding="utf-8")):
            for option in re.findall(r"(?<![\w-])(--[A-Za-z][\w-]*)", snippet):
                if option not in known | others:
                    unknown.append(f"{doc.name}: {option} (in: {snippet.strip()[:120]})")
    assert not unknown, "\n".join(unknown)


def test_every_source_file_the_docs_name_exists():
    """`core/transients/scoring.py`, `benchmarks/results/x.json`, `src/.../models/tracker.json`:
    a file moved or renamed leaves the docs pointing nowhere."""
    prefixes = ("src", "core", "io", "widgets", "commands", "figures", "synthetic", "batch",
                "export", "models", "benchmarks", "results", "tests", "scripts", "docs")  # fmt: skip
    bases = (ROOT, ROOT / "src" / "napari_catrack", ROOT / "benchmarks")
    not_there = {"core/channels.py"}  # architecture.md: the design's module that does not exist
    missing = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        prose = re.sub(r"```.*?```", "", text, flags=re.S)
        spans = re.findall(r"```[\w-]*\n(.*?)```", text, flags=re.S) + re.findall(
            r"`([^`]+)`", prose
        )
        for span in spans:
            pattern = (
                r"(?<![\w./~-])((?:[\w.-]+/)+[\w.-]+\.(?:py|json|pt|yaml|sh|csv|tif|h5))(?![\w/])"
            )
            for path in re.findall(pattern, span):
                placeholder = re.search(r"(?<![A-Za-z])[A-Z]{3,}(?![A-Za-z])", path)  # _STEP.json
                if path.split("/")[0] not in prefixes or path in not_there or placeholder:
                    continue
                if path.startswith("results/") and path.count("/") > 1:
                    continue  # a batch's output folder in an example (`-o results/`)
                if not any((base / path).exists() for base in bases):
                    missing.append(f"{doc.name}: {path}")
    assert not missing, "\n".join(missing)
