"""The user guide against the code: every `catrack` command and option the docs write exists, the
command list of docs/index.md and README.md is the parser's, and every figure the docs show is on
disk and made by docs/make_screenshots.py. A renamed option or command fails here, not for a user
who copies the docs."""

from __future__ import annotations

import argparse
import ast
import re
import textwrap
from functools import cache, lru_cache
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
    others |= {"--config", "--ignore"}  # nwbinspector
    others |= {"--extra", "--python-version", "--resolution"}  # uv (installation.md)
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


# --- Python names and snippets --------------------------------------------------------------

PACKAGE = ROOT / "src" / "napari_catrack"
# a dotted name in a code span that starts like a module of the package (`core.alignment.X`)
# (not `params`: `params.to_dict()` is as often a variable's method)
_SUBPACKAGES = tuple(
    p.stem for p in PACKAGE.iterdir() if (p.suffix == ".py" or p.is_dir()) and p.stem != "params"
)
_NOT_NAMES = re.compile(r"\.(json|yaml|py|h5|nwb|csv|tif|unreadable)$|catrack\.h5")


def _module_file(parts: list[str]) -> Path | None:
    """The source file of napari_catrack.<parts> (a module or a package), or None."""
    base = PACKAGE.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@cache
def _defined(path: Path) -> dict[str, ast.AST | None]:
    """Top-level names of a module (functions, classes, assignments, imports, lazy stubs)."""

    names: dict[str, ast.AST | None] = {}
    sources = [path] + ([path.with_suffix(".pyi")] if path.with_suffix(".pyi").is_file() else [])
    for source in sources:
        for node in ast.parse(source.read_text(encoding="utf-8")).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names[node.name] = node
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    for t in ast.walk(target):
                        if isinstance(t, ast.Name):
                            names[t.id] = None
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names[node.target.id] = None
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    names[(alias.asname or alias.name).split(".")[0]] = None
            if isinstance(node, ast.Assign) and "attach" in ast.unparse(node.value):
                # lazy_loader.attach(__name__, submod_attrs={"detect": ["detect_rules"]})
                for t in ast.walk(node.value):
                    if isinstance(t, ast.Constant) and isinstance(t.value, str):
                        names.setdefault(t.value, None)
    return names


def _resolves(dotted: str) -> bool:
    """napari_catrack.<dotted> names a module, or a name defined in one (a class's attribute
    one level down), read from the source so that widgets need no Qt."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        path = _module_file(parts[:cut])
        if path is None:
            continue
        rest = parts[cut:]
        if not rest:
            return True
        defined = _defined(path)
        if rest[0] not in defined:
            return False
        node = defined[rest[0]]
        if len(rest) == 1:
            return True
        if isinstance(node, ast.ClassDef) and len(rest) == 2:
            return any(
                getattr(n, "name", None) == rest[1]
                or any(
                    isinstance(t, ast.Name) and t.id == rest[1] for t in getattr(n, "targets", [])
                )
                or (isinstance(n, ast.AnnAssign) and getattr(n.target, "id", None) == rest[1])
                for n in node.body
            )
        return False
    return False


def _named_objects(text: str) -> list[str]:
    """Dotted names of the package written in code spans: `napari_catrack.io.tiff.open_tiff`,
    `core.alignment.POOR_MATCH_NCC` (relative to the package)."""
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    found = []
    for span in re.findall(r"`([^`]+)`", prose):
        for name in re.findall(r"(?<![\w./])((?:napari_catrack|[a-z_]+)(?:\.[A-Za-z_]\w*)+)", span):
            head = name.split(".")[0]
            if _NOT_NAMES.search(name) or head not in ("napari_catrack", *_SUBPACKAGES):
                continue
            found.append(name.removeprefix("napari_catrack").lstrip("."))
    return found


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_module_function_and_class_the_docs_name_exists(doc):
    missing = [
        name
        for name in _named_objects(doc.read_text(encoding="utf-8"))
        if name and name != "__version__" and not _resolves(name)
    ]
    assert not missing, f"{doc.name} names what the package does not have: {missing}"


def test_the_name_check_sees_a_missing_name():
    names = _named_objects(
        "`napari_catrack.io.tiff.open_tiff`, `core.alignment.POOR_MATCH_NCC`, "
        "`io.tiff.no_such`, `session.catrack.h5`, `widgets._context.ViewerContext.of`"
    )
    assert names == [
        "io.tiff.open_tiff",
        "core.alignment.POOR_MATCH_NCC",
        "io.tiff.no_such",
        "widgets._context.ViewerContext.of",
    ]
    assert [_resolves(n) for n in names] == [True, True, False, True]
    assert not _resolves("widgets._context.ViewerContext.no_such")


def _python_blocks(text: str) -> list[str]:
    return [textwrap.dedent(b) for b in re.findall(r"```python\n(.*?)```", text, flags=re.S)]


def _snippet_problems(code: str) -> list[str]:
    """What in a Python snippet does not exist: an imported name of the package, or a keyword
    argument of a package function it calls (`track(..., params=...)`)."""
    import importlib
    import inspect

    tree = ast.parse(code)
    bound: dict[str, object] = {}
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("napari_catrack"):
            module = importlib.import_module(node.module)
            for alias in node.names:
                if not hasattr(module, alias.name):
                    problems.append(f"{node.module} has no {alias.name}")
                else:
                    bound[alias.asname or alias.name] = getattr(module, alias.name)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        target = node.func
        if isinstance(target, ast.Name) and target.id in bound:
            func, label = bound[target.id], target.id
        elif isinstance(target, ast.Attribute) and ast.unparse(target).startswith(
            "napari_catrack."
        ):
            label = ast.unparse(target)
            module_name, _, attr = label.rpartition(".")
            try:
                func = getattr(importlib.import_module(module_name), attr)
            except (ImportError, AttributeError):
                problems.append(f"{label} does not exist")
                continue
        else:
            continue
        try:
            parameters = inspect.signature(func).parameters
        except (TypeError, ValueError):
            continue
        kinds = [p.kind for p in parameters.values()]
        positional = sum(
            k in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
            for k in kinds
        )
        if inspect.Parameter.VAR_POSITIONAL not in kinds and len(node.args) > positional:
            problems.append(
                f"{label}() takes {positional} positional arguments, given {len(node.args)}"
            )
        if inspect.Parameter.VAR_KEYWORD in kinds:
            continue
        problems += [
            f"{label}() has no keyword {k.arg}"
            for k in node.keywords
            if k.arg is not None and k.arg not in parameters
        ]
    return problems


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_python_snippet_imports_and_calls_what_exists(doc):
    text = doc.read_text(encoding="utf-8")
    code = _python_blocks(text)
    # a call written inline: `napari_catrack.batch.runner.run_batch(..., scheduler=...)`
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    code += [
        span.replace("\n", " ")
        for span in re.findall(r"`([^`]+)`", prose)
        if re.match(r"napari_catrack\.[\w.]+\(", span)
    ]
    problems = [p for snippet in code for p in _snippet_problems(snippet)]
    assert not problems, f"{doc.name}: " + "; ".join(problems)


def test_the_snippet_check_sees_a_wrong_keyword_and_a_missing_import():
    problems = _snippet_problems(
        "from napari_catrack.synthetic import make_worm_recording, no_such\n"
        "rec = make_worm_recording(n_frames=10, n_nurons=3)\n"
        "napari_catrack.batch.runner.run_batch(m, 'r', schedular='tcp://x')\n"
        "napari_catrack.batch.runner.run_batch(m, 'r', 'tcp://x')\n"
    )
    assert problems == [
        "napari_catrack.synthetic has no no_such",
        "make_worm_recording() has no keyword n_nurons",
        "napari_catrack.batch.runner.run_batch() has no keyword schedular",
        "napari_catrack.batch.runner.run_batch() takes 2 positional arguments, given 3",
    ]


# --- files, links and code fences -------------------------------------------------------------

_FILE_MENTION = re.compile(
    r"(?<![\w.-])((?:[\w.-]+/)*(?:bench_\w+\.py|results/[\w.-]+\.json|scripts/[\w.-]+\.(?:py|sh)))"
)


def _mentioned_files(text: str) -> list[str]:
    """Benchmark scripts, their stored results and developer scripts named anywhere in a page
    (prose too): `python benchmarks/bench_x.py`, benchmarks/results/x.json, scripts/x.py."""
    return [
        m
        for m in _FILE_MENTION.findall(text)
        if not re.search(r"(?<![A-Za-z])[A-Z]{3,}(?![A-Za-z])", m)  # a placeholder: x_STEP.json
    ]


def _where(mention: str) -> Path:
    name = mention.rsplit("/", 2)
    if mention.endswith(".py") and "bench_" in name[-1]:
        return ROOT / "benchmarks" / name[-1]
    if "results/" in mention:
        return ROOT / "benchmarks" / "results" / name[-1]
    return ROOT / "scripts" / name[-1]


@pytest.mark.parametrize("doc", [*DOCS, ROOT / "CHANGELOG.md"], ids=lambda p: p.name)
def test_every_benchmark_result_and_script_the_docs_name_exists(doc):
    missing = [
        m for m in _mentioned_files(doc.read_text(encoding="utf-8")) if not _where(m).is_file()
    ]
    assert not missing, f"{doc.name} names files that are not in the repository: {missing}"


def test_the_file_check_sees_a_missing_result():
    text = (
        "see benchmarks/results/batch.json and results/nope.json (`python benchmarks/bench_x.py`),"
        " scripts/smoke_test.py, twophoton_memory_STEP.json, results/twophoton_memory_STEP.json"
    )
    mentions = _mentioned_files(text)
    assert mentions == [
        "benchmarks/results/batch.json",
        "results/nope.json",
        "benchmarks/bench_x.py",
        "scripts/smoke_test.py",
    ]
    assert [_where(m).is_file() for m in mentions] == [True, False, False, True]


def _anchors(text: str) -> set[str]:
    """GitHub's anchors of a page's headings: lower case, punctuation dropped, spaces -> '-'."""
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    return {
        re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        for heading in re.findall(r"^#+ (.+)$", text, flags=re.M)
    }


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_link_to_a_page_of_the_docs_and_its_heading_exists(doc):
    text = re.sub(
        r"`[^`]*`", "", re.sub(r"```.*?```", "", doc.read_text(encoding="utf-8"), flags=re.S)
    )
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target) or target.startswith("images/"):
            continue
        page, _, anchor = target.partition("#")
        path = (doc.parent / page).resolve() if page else doc
        if not path.is_file():
            broken.append(target)
        elif anchor and path.suffix == ".md":
            if anchor not in _anchors(path.read_text(encoding="utf-8")):
                broken.append(target)
    assert not broken, f"{doc.name} links to what is not there: {broken}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_code_fence_is_closed_on_a_line_of_its_own(doc):
    """A closing ``` with text after it does not close the block: the rest of the page renders
    as code."""
    lines = doc.read_text(encoding="utf-8").splitlines()
    fences = [
        (i + 1, line.strip()) for i, line in enumerate(lines) if line.lstrip().startswith("```")
    ]
    bad = [f"line {n}: {line}" for n, line in fences if not re.fullmatch(r"```[\w-]*", line)]
    opened = [line for n, line in fences if re.fullmatch(r"```[\w-]*", line)]
    assert not bad and len(opened) % 2 == 0, f"{doc.name}: {bad or 'a block is never closed'}"


# --- messages the docs quote ------------------------------------------------------------------

# wording that is another library's, inside our message (PyYAML's syntax errors)
_LIBRARY = {"but got": "yaml", "while parsing a": "yaml"}
# a message cue just before a code span: "prints `...`", "says `...`", "refused with `...`"
_CUE = re.compile(
    r"(prints?|printed|says?|message|line|refused|refuses|warns?|warning|error|reports?|reads"
    r"|shows?)\W[^`]{0,25}$",
    flags=re.I,
)
# wording that the code builds from a variable, as the code writes it (\x00: a value)
_BUILT = {
    "alignment estimated: dy": "alignment \x00: dy",  # AlignmentInForce.description: its source
    "No space left on device; the": "\x00; the",  # the OS's strerror, then ours
}


def _quoted_messages(text: str) -> list[str]:
    """What the docs say a command or widget prints: code spans that start `catrack CMD: `, code
    spans and double-quoted phrases that follow a cue word ("prints", "says", "refused with",
    ...), and fenced text blocks whose first line starts `catrack CMD: ` (an example of a
    command's output)."""
    found = []
    for block in re.findall(r"```text\n(.*?)```", text, flags=re.S):
        if re.match(r"catrack( [a-z-]+)?: ", block):
            found.append(" ".join(block.split()))
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    # in backticks, or in double quotes outside them ('refused as "not written by ..."')
    spans = [*re.finditer(r"`([^`]+)`", prose)]
    spans += re.finditer(r'"([^"`]{8,300})"', re.sub(r"`[^`]*`", lambda m: " " * len(m[0]), prose))
    for m in spans:
        span = " ".join(m.group(1).split())
        before = prose[max(0, m.start() - 45) : m.start()].replace("\n", " ")
        command = span.startswith(("catrack ", "python ", "pip ", "-"))
        if re.match(r"catrack( [a-z-]+)?: ", span) or (
            _CUE.search(before) and len(span.split()) >= 3 and not command
        ):
            found.append(span)
    return found


def _wording(message: str) -> list[str]:
    """The fixed wording of a quoted message: runs of two or more plain words, cut at what a
    run fills in (numbers, file names, option names, quoted values, UPPERCASE placeholders,
    `...`, `<why>`) and after the `catrack CMD: warning: ` prefix."""
    body = re.sub(r"^catrack( [a-z-]+)?: ((warning|error): )?", "", message)

    def filled_in(token: str) -> bool:
        core = token.strip(".,;:()")
        return (
            not core
            or core.startswith("-")
            or core in ("...", "…")
            or bool(re.search(r"[\d/_'\"<>\[\]{}=]|\w\.\w|\w-\w", core))  # green-to-red
            or core in ("xy", "yx")  # an axis order
            or (core.upper() == core and bool(re.search("[A-Z]", core)))
        )

    runs, current = [], []
    for token in [*body.split(), "..."]:
        if filled_in(token):
            run = " ".join(current).strip(" ;:,()")
            if len(re.findall(r"[A-Za-z]+", run)) >= 2:
                runs.append(run)
            current = []
        else:
            current.append(token)
    return runs


@lru_cache(maxsize=1)
def _code_text() -> str:
    """Every string the package's code holds (an f-string's values as \\x00), one per line."""
    strings = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.JoinedStr):
                parts = node.values
                strings.append(
                    "".join(v.value if isinstance(v, ast.Constant) else "\x00" for v in parts)
                )
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                strings.append(node.value)
    return "\x01".join(" ".join(s.split(" ")) for s in strings)


@cache
def _library_text(name: str) -> str:
    import importlib

    folder = Path(importlib.import_module(name).__file__).parent
    return "\x01".join(p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.py")))


def _in_code(run: str, code: str) -> bool:
    """The run is in the code's strings, whole or joined from pieces the way a message is built:
    each piece but the last ends a string or comes before a value, each but the first starts a
    string or follows one ("... averaged" + ": are the times ...", "neuron" + "s")."""
    if run in _LIBRARY:
        code = _library_text(_LIBRARY[run])
    run = _BUILT.get(run, run)

    @cache
    def from_(i: int) -> bool:
        for j in range(len(run), i, -1):
            # a string boundary (\x01) or a value (\x00) before / after the piece, as needed
            before = [""] if i == 0 else ["\x00", "\x01"]
            after = [""] if j == len(run) else ["\x00", "\x01"]
            piece = run[i:j]
            if any(f"{a}{piece}{b}" in code for a in before for b in after) and (
                j == len(run) or from_(j)
            ):
                return True
        return False

    return from_(0)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_message_the_docs_quote_is_worded_as_the_code_prints_it(doc):
    code = _code_text()
    wrong = [
        f"{run!r} (in: {message[:100]})"
        for message in _quoted_messages(doc.read_text(encoding="utf-8"))
        for run in _wording(message)
        if not _in_code(run, code)
    ]
    assert not wrong, f"{doc.name} quotes wording the code does not print:\n" + "\n".join(wrong)


def test_the_message_check_sees_changed_wording():
    text = (
        "it prints `10 of 120 frames of the puncta channel have no photons above the camera "
        "offset (frames 100-109, 0-based): dropped or black frames? ...` and\n```text\n"
        "catrack align: warning: the alignment scores NCC 0.068, below 0.3: red and green did "
        "not match up\n```\n; `catrack track REC -o t.csv` is a command, `a b c` is not quoted"
    )
    messages = _quoted_messages(text)
    assert [m[:20] for m in messages] == ["catrack align: warni", "10 of 120 frames of "]
    runs = [run for m in messages for run in _wording(m)]
    assert runs == [
        "the alignment scores",
        "red and green did not match up",
        "frames of the puncta channel have no photons above the camera offset (frames",
        "dropped or black frames?",
    ]
    code = _code_text()
    assert [_in_code(r, code) for r in runs] == [True, False, True, True]
    assert _in_code("alignment estimated: dy", code)  # a word filled in: see _BUILT
    assert not _in_code("alignment surmised: dy", code)


# --- pages and widgets ------------------------------------------------------------------------


def test_the_docs_index_links_every_page_and_the_readme_links_the_index():
    index = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\(([\w-]+\.md)(?:#[\w-]*)?\)", index))
    pages = {p.name for p in (ROOT / "docs").glob("*.md")} - {"index.md"}
    assert pages - linked == set(), "docs/index.md does not list these pages"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(docs/index.md)" in readme


@lru_cache(maxsize=1)
def _widget_names() -> list[str]:
    """The names the Plugins menu shows (napari.yaml's widget display names)."""
    import yaml

    manifest = yaml.safe_load((PACKAGE / "napari.yaml").read_text(encoding="utf-8"))
    return [w["display_name"] for w in manifest["contributions"]["widgets"]]


def _is_widget_name(name: str) -> bool:
    """The menu's name, or the part before its parenthesis (`Sources`), or the name with a
    shortened parenthesis (a name "X (a; b)" written "X (a)"); not any start (`Puncta`)."""
    name = name.strip()
    return any(
        shown == name
        or shown.split(" (")[0] == name
        or (name.endswith(")") and shown.startswith(name[:-1]) and shown[len(name) - 1] in ";,")
        for shown in _widget_names()
    )


def _widgets_named(text: str) -> list[str]:
    """Widget names as a page writes them: **Plugins → napari-catrack → X**, the **X** widget,
    the X widget."""
    text = re.sub(r"`[^`]*`", "", text)
    named = re.findall(r"Plugins (?:→|>) napari-catrack (?:→|>) ([^*.;:,\n]+?)(?:\*|[.;:,]|$)",
                       text, flags=re.M)  # fmt: skip
    named += re.findall(r"\*\*?([A-Z][^*]{1,60}?)\*\*? widget", text)
    named += re.findall(r"\b[Tt]he ([A-Z][a-z]+(?: [a-z]+)?) widget", text)
    return [n for n in named if n not in ("…", "napari")]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_widget_the_docs_name_is_in_the_plugins_menu(doc):
    wrong = [n for n in _widgets_named(doc.read_text(encoding="utf-8")) if not _is_widget_name(n)]
    assert not wrong, f"{doc.name} names widgets the Plugins menu does not show: {wrong}"


def test_every_widget_of_the_plugins_menu_is_described_in_the_docs():
    pages = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "docs").glob("*.md"))
    pages = " ".join(pages.split())
    missing = []
    for shown in _widget_names():
        short = shown.split(" (")[0]
        # in emphasis (*Traces (signals)*, **Export**) or after Plugins → napari-catrack →
        if not re.search(rf"(\*|napari-catrack → ){re.escape(short)}\b", pages):
            missing.append(shown)
    assert not missing, f"no docs page describes these widgets by their menu name: {missing}"


def test_the_widget_name_check_sees_a_name_the_menu_lacks():
    text = (
        "open **Plugins → napari-catrack → Sources (two-photon)**; the **Transients** "
        "widget; the Sources widget; the Puncta widget; *Neuronal ensembles*"
    )
    names = _widgets_named(text)
    assert names == ["Sources (two-photon)", "Transients", "Sources", "Puncta"]
    assert [_is_widget_name(n) for n in names] == [True, False, True, False]


def test_every_python_file_the_docs_name_without_its_folder_exists():
    """`layout.py`, `bench_batch.py` in a sentence: some file of the repository has that name."""
    names = {p.name for folder in ("src", "benchmarks", "scripts", "tests", "docs")
             for p in (ROOT / folder).rglob("*.py")}  # fmt: skip
    missing = []
    for doc in DOCS:
        for span in re.findall(r"`([^`]+)`", doc.read_text(encoding="utf-8")):
            for name in re.findall(r"(?<![\w/.-])([\w-]+\.py)(?!\w)", span):
                if name not in names:
                    missing.append(f"{doc.name}: {name}")
    assert not missing, "\n".join(missing)


def test_architecture_names_every_module_of_core_and_io():
    """docs/architecture.md's package map ("Layout", "Analysis steps and where they live") names
    each module of `io/` and of the `core/` packages: a module added without a line there is a
    part of the design nobody can find (the docs run of h16 found ten)."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    folders = [PACKAGE / "io", PACKAGE / "core", *(p for p in (PACKAGE / "core").iterdir()
                                                   if (p / "__init__.py").is_file())]  # fmt: skip
    # `io/stage.py`, `stage.py`, or as a dotted name: `io.output_check.check_outputs`
    named = r"(?<![\w.]){name}|(?<!\w){stem}\.\w"
    unnamed = [
        str(path.relative_to(PACKAGE))
        for folder in folders
        for path in sorted(folder.glob("*.py"))
        if path.name != "__init__.py"
        and not re.search(named.format(name=re.escape(path.name), stem=re.escape(path.stem)), text)
    ]
    assert not unnamed, f"docs/architecture.md does not name these modules: {unnamed}"


# --- defaults the docs state -------------------------------------------------------------------


@lru_cache(maxsize=1)
def _stated_defaults() -> dict[str, list[str]]:
    """Option -> what each command's parser says its default is: the `[default: X]` that
    `--help` prints from the step's parameter dataclass, the argparse default, and the help's
    own "(default X)" wording."""
    from napari_catrack.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    found: dict[str, list[str]] = {}
    for p in sub.choices.values():
        for action in p._actions:
            helptext = " ".join((action.help or "").split())
            values = re.findall(r"\[default: ([^\]]*)\]|default:? ([-\w.]+)", helptext)
            values = [a or b for a, b in values]
            # "(default: their frame column, else 0)": the default when the input has none
            values += re.findall(r"default:? [^)]*?else ([-\w.]+)\)", helptext)
            if action.default not in (None, argparse.SUPPRESS):
                values.append(str(action.default))
            for option in action.option_strings:
                found.setdefault(option, []).extend(values)
    return found


def _documented_defaults(text: str) -> list[tuple[str, str]]:
    """(option, value) for each default a page states: "`--shuffles` (default 1000)",
    "`--signal`, default `dff`", "`--channel I`, default 0", "`--null pooled` (default)"."""
    text = " ".join(text.split())
    found = re.findall(r"`(--[\w-]+)(?: [A-Z]+)?`[^`.;]{0,25}?(?:\(|, )default:? `?([-\w.]+)", text)
    found += re.findall(r"`(--[\w-]+) ([-\w.]+)` \(default[);,]", text)
    return [(option, value.rstrip(".")) for option, value in found]


def _same_default(value: str, stated: list[str]) -> bool:
    value = {"on": "True", "off": "False"}.get(value, re.sub(r"(?<=\d)(st|nd|rd|th)$", "", value))
    for default in stated:
        try:
            if float(default) == float(value):
                return True
        except ValueError:
            if default == value:
                return True
    return False


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_default_the_docs_state_is_the_commands_default(doc):
    """A default changed in params.py (the one place defaults live) leaves "(default 1000)" in
    the page; test_every_catrack_command_and_option_in_the_docs_exists sees only the name."""
    defaults = _stated_defaults()
    wrong = [
        f"{option} (default {value} in the page; the parser: {sorted(set(defaults[option]))})"
        for option, value in _documented_defaults(doc.read_text(encoding="utf-8"))
        if option in defaults and not _same_default(value, defaults[option])
    ]
    assert not wrong, f"{doc.name}: " + "; ".join(wrong)


def test_the_default_check_sees_a_changed_default():
    from napari_catrack.core.ensembles.params import EnsembleParams

    shuffles = EnsembleParams().n_shuffles
    text = (
        f"`--shuffles` (default {shuffles + 1}) shuffles, `--percentile` (default 95th, p), "
        "`--test-members`, default on; `--null pooled` (default): windows"
    )
    found = _documented_defaults(text)
    assert found == [
        ("--shuffles", str(shuffles + 1)),
        ("--percentile", "95th"),
        ("--test-members", "on"),
        ("--null", "pooled"),
    ]
    defaults = _stated_defaults()
    assert [_same_default(v, defaults[o]) for o, v in found] == [False, True, True, True]


# --- output columns the docs list ---------------------------------------------------------------

# (page, module, constant): the page writes the constant's columns, in its order, as one list
# (`a,b,c`); the constant is what the command writes (the CLI contract of ARCHITECTURE.md)
_COLUMN_LISTS = [
    ("tracking.md", "core.detection", "CANDIDATE_COLUMNS"),
    ("tracking.md", "core.tracking.tracker", "TRACK_OUTPUT_COLUMNS"),
    ("signals.md", "core.signals.extraction", "TRACE_COLUMNS"),
    ("two_photon.md", "io.sources", "TRACE_COLUMNS"),
    ("behaviour.md", "core.behaviour.velocity", "COLUMNS"),
    ("ensembles.md", "core.ensembles.pipeline", "EVENT_COLUMNS"),
    ("ensembles.md", "core.ensembles.pipeline", "MEMBER_COLUMNS"),
    ("events.md", "core.events.eta", "ETA_COLUMNS"),
    ("events.md", "core.events.eta", "SIGNIFICANCE_COLUMNS"),
    ("puncta.md", "core.puncta.link", "TRACK_COLUMNS"),
    ("batch.md", "batch.recording", "REPORT_COLUMNS"),
]


def _column_lists(text: str) -> set[str]:
    """Every comma-separated list of names a page writes, spaces and line breaks removed."""
    spans = re.findall(r"`([^`]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    spans += re.findall(r"```[\w-]*\n(.*?)```", text, flags=re.S)
    lists = set()
    for span in spans:
        for m in re.finditer(r"(?<![\w,])\w+(?:,\s*\w+){2,}(?![\w,])", span):
            lists.add(re.sub(r",\s+", ",", m.group(0)))
    return lists


@pytest.mark.parametrize("page,module,name", _COLUMN_LISTS, ids=lambda v: str(v))
def test_every_output_column_list_the_docs_write_is_the_commands(page, module, name):
    """A column renamed, added or moved in the code leaves the page's list behind; the docs
    run of h16 compared each with the file the command wrote, and this keeps them equal."""
    import importlib

    columns = list(getattr(importlib.import_module(f"napari_catrack.{module}"), name))
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    assert ",".join(columns) in _column_lists(text), f"{page} does not list {name}: {columns}"


def test_transients_md_lists_every_column_of_the_transient_and_cell_tables():
    from napari_catrack.core.transients.features import CELL_COLUMNS, TRANSIENT_COLUMNS

    text = (ROOT / "docs" / "transients.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (`.+?`) \|", text, flags=re.M)  # the column table
    listed = [c for row in rows for c in re.findall(r"`(\w+)`", row)]
    assert listed[: len(TRANSIENT_COLUMNS)] == TRANSIENT_COLUMNS
    cell_section = text.split("## Per-cell table", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`(\w+)`", cell_section))
    assert set(CELL_COLUMNS) - {"neuron_id"} <= named


def test_the_column_check_sees_a_renamed_column():
    text = "writes `neuron_id,frame,\n  lag_s,mean` and\n```\nreport.csv  a,b, c\n```\n"
    assert _column_lists(text) == {"neuron_id,frame,lag_s,mean", "a,b,c"}
    assert "neuron_id,frame,lag,mean" not in _column_lists(text)  # lag renamed lag_s
    assert "frame,lag_s,mean" not in _column_lists(text)  # a column dropped at the start
