"""Batch manifests (YAML, TOML or CSV): the recordings, their options, the steps and parameters.

```yaml
defaults: {steps: [align, track, traces, transients], fps: 10,
           params: {transients: {snr_threshold: 3.5}}}
recordings:
  - {name: day1, path: rec1.tif, seeds: seeds1.csv}
  - {path: day2/rec.tif, seeds: seeds2.csv, fps: 20, params: {track: {gate: 6}}}
```

`nwb_metadata: meta.yaml` (defaults or a recording, with `export: [tables, nwb]`): the subject and
session metadata of the recording's `session.nwb`, read by `io.nwb.read_metadata` as
`catrack export-nwb --metadata` reads it (checked with the manifest).

Relative paths are relative to the manifest (held absolute from then on). A recording's keys
override the defaults; its `params` override the default parameters key by key; a parameter is
its field's name or its command-line option without the dashes (`StepParams.option_aliases`).
Names: the manifest's `name`, else the file stem, made unique when stems collide (`day2_rec`,
`day3_rec`: the parent folder is prefixed, then `-2`, `-3`). Everything is checked before any
work starts, every problem reported at once: unknown keys, steps and parameter names, missing
files, and parameter values (`StepParams.from_dict(strict=True)`).

A CSV manifest has one row per recording with the same keys as columns; `steps` is written
`align;track;traces`, a parameter is a column `<step>.<parameter>` (e.g. `transients.k`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from napari_catrack.errors import InputError
from napari_catrack.text import unfit_file_name

OPEN_KEYS = (
    "layout",
    "split",
    "green_channel",
    "red_channel",
    "dataset",
    "axes",
    "z_projection",
    "fps",
    "pixel_size_um",
)
FILE_KEYS = ("seeds", "align", "events", "frame_times", "video", "video_times", "nwb_metadata")
OTHER_KEYS = ("name", "path", "steps", "params", "seed_frame", "no_align", "export")
RECORDING_KEYS = OPEN_KEYS + FILE_KEYS + OTHER_KEYS
EXPORTS = ("tables", "figures", "nwb")
DEFAULT_EXPORT = ("tables",)  # a recording without `export`


def export_keys(export: Any, nwb_metadata: str | os.PathLike | None = None) -> dict[str, Any]:
    """The manifest keys of what a recording writes after its steps, as `parse_manifest` reads
    them (the Batch widget writes its manifest's through this): `export`, the items of `EXPORTS`
    in `export` (left out when `DEFAULT_EXPORT`), and `nwb_metadata`, the YAML file of the NWB
    subject and session (`catrack export-nwb --metadata`), with `nwb` only (else refused)."""
    chosen = [e for e in EXPORTS if e in export]
    if not chosen:
        raise InputError(f"choose what to export: some of {', '.join(EXPORTS)}")
    out: dict[str, Any] = {} if tuple(chosen) == DEFAULT_EXPORT else {"export": chosen}
    if nwb_metadata and str(nwb_metadata).strip() and "nwb" in chosen:
        out["nwb_metadata"] = str(nwb_metadata).strip()
    return out


@dataclass(frozen=True)
class RecordingSpec:
    """One recording of a batch: where it is, how to open it, what to run with which values."""

    name: str
    path: Path
    steps: tuple[str, ...]
    params: dict[str, dict[str, Any]] = field(default_factory=dict)  # step -> values given
    options: dict[str, Any] = field(default_factory=dict)  # open_recording keyword arguments
    files: dict[str, Path] = field(default_factory=dict)  # seeds, align, events, ...
    seed_frame: int | None = None  # None: the seeds file's frame column, else 0
    no_align: bool = False
    export: tuple[str, ...] = DEFAULT_EXPORT
    # `--params-from SESSION`: {"session": path, "file": its provenance, "steps": {step: values
    # taken from it}, "overridden": {step: {name: (session's, manifest's)}}}; empty without it
    params_from: dict[str, Any] = field(default_factory=dict)

    def step_params(self, step: str):
        """The step's parameter object (defaults + the manifest's values), or None."""
        from napari_catrack.batch.steps import STEPS

        cls = STEPS[step].params
        return None if cls is None else cls.from_dict(self.params.get(step), strict=True)

    def open_options(self) -> dict[str, Any]:
        """`open_recording` keyword arguments (`split` becomes the layout)."""
        options = dict(self.options)
        split = options.pop("split", None)
        if split:
            options["layout"] = split
        return options

    def open(self):
        from napari_catrack.io.recording import open_recording

        return open_recording(self.path, **self.open_options())


@dataclass(frozen=True)
class Manifest:
    source: Path | None  # None: built in memory (the Batch widget), not read from a file
    recordings: list[RecordingSpec]


def _load(path: Path) -> dict[str, Any]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        text = ""  # read by `read_table`, which says what a file that is not UTF-8 is
    else:
        try:
            text = path.read_text(encoding="utf-8-sig")  # a BOM from Notepad is no key
        except UnicodeDecodeError as exc:
            from napari_catrack.io.tables import not_utf8_line

            raise InputError(not_utf8_line("the manifest", path, exc)) from None
    if suffix in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InputError(f"{path.name} is not valid YAML: {exc}") from None
    elif suffix == ".toml":
        import tomllib

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"{path.name} is not valid TOML: {exc}") from None
    elif suffix == ".csv":
        data = _from_csv(path)
    else:
        raise InputError(f"a manifest is .yaml, .toml or .csv, not {path.suffix or 'no extension'}")
    if not isinstance(data, dict) or not isinstance(data.get("recordings"), list):
        raise InputError(f"{path.name} must have a list of `recordings` (and optional `defaults`)")
    return data


def _from_csv(path: Path) -> dict[str, Any]:
    from napari_catrack.io.tables import read_table

    table = read_table(path, ("path",), "manifest")
    recordings = []
    for row in table.to_dict("records"):
        rec: dict[str, Any] = {}
        for key, value in row.items():
            if value is None or (isinstance(value, float) and value != value) or value == "":
                continue
            key = str(key).strip()
            if "." in key:
                step, name = key.split(".", 1)
                rec.setdefault("params", {}).setdefault(step, {})[name] = value
            elif key == "steps":
                # `align;track` as documented, or `align, track` as a spreadsheet cell often
                # has it (a string in YAML takes both too); was "unknown step(s) align, track"
                steps = str(value).replace(";", ",").split(",")
                rec["steps"] = [s.strip() for s in steps if s.strip()]
            else:
                rec[key] = value
        recordings.append(rec)
    return {"recordings": recordings}


def _merge(defaults: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
    from napari_catrack.batch.steps import STEPS

    out = {**defaults, **own}
    steps = _steps(out)
    # the defaults' parameters of a step this recording does not run do not apply to it (a
    # recording with its own shorter `steps` was refused: "parameters for step(s) not run");
    # an unknown step name still reaches the check below, and the recording's own stray ones
    params = {s: dict(v or {}) for s, v in (defaults.get("params") or {}).items()
              if s in steps or s not in STEPS}  # fmt: skip
    for step, values in (own.get("params") or {}).items():
        params.setdefault(step, {}).update(values or {})
    out["params"] = params
    return out


def _steps(entry: dict[str, Any]) -> list[str]:
    """A recording's `steps`: a list, or the text of a CSV cell (`align;track` or `align, track`)."""
    steps = entry.get("steps") or []
    if isinstance(steps, str):
        steps = [s.strip() for s in steps.replace(";", ",").split(",") if s.strip()]
    return list(steps)


def _defaults_params_unused(defaults: dict[str, Any], entries: list[dict[str, Any]]) -> list[str]:
    """The known steps the defaults give parameters for that neither the defaults' `steps` nor any
    recording runs (a mistake such as `steps: [detect]` with `params: {transients: ...}`; each
    recording drops those of a step it does not run, so this is the one place it can be seen)."""
    from napari_catrack.batch.steps import STEPS

    run = {s for entry in [defaults, *entries] for s in _steps(entry)}
    given = defaults.get("params") or {}
    return (
        sorted(s for s in given if s in STEPS and s not in run) if isinstance(given, dict) else []
    )


def default_names(
    paths: list[str], names: list[str | None] | None = None, *, fold_case: bool = False
) -> list[str]:
    """The folder name each recording gets in a batch (the file stem; the folder's name in front
    for stems used twice), `names[i]` where given: what the Batch widget's name column shows.
    `fold_case`: the output folder does not tell case apart (`case_insensitive`)."""
    entries = [{"name": n} if n else {} for n in (names or [None] * len(paths))]
    return _unique_names(entries, [Path(p) for p in paths], fold_case)


def case_insensitive(folder: str | os.PathLike) -> bool:
    """Whether the file system of `folder` treats `Rec1` and `rec1` as one name (macOS, Windows;
    a FAT or SMB disk on Linux). A folder not made yet is answered for its nearest existing
    parent, in which the batch makes it (a new folder takes its parent's file system and, where
    case is per folder, its parent's setting).

    Probed, not guessed from the platform, and nothing is ever written outside `folder` (a
    user's parent folder may be read-only or shared; h16 made a hidden file there):

    1. Read only: an ASCII name with letters already in that folder (up to 64 are tried), else
       the folder's own name and those of its parents on the same device, is looked up in the
       other case: the same file means case is ignored, nothing (or another file) that it is not.
    2. `folder` exists and nothing there answered (empty, no letters): a hidden
       `.catrack-case-probe-*` file made inside `folder` itself, looked up in upper case, removed.
    3. Else (`folder` not made yet, or read-only): case-insensitive, the side that never puts
       two recordings in one folder."""
    here = Path(folder).absolute()
    while not here.is_dir() and here != here.parent:
        here = here.parent
    answer = _case_by_lookup(here)
    if answer is not None:
        return answer
    if here != Path(folder).absolute():
        return True  # not made yet: never probed by writing into a parent
    import tempfile

    try:
        fd, probe = tempfile.mkstemp(prefix=".catrack-case-probe-", dir=here)
    except OSError:
        return True
    try:
        os.close(fd)
        return Path(probe).with_name(Path(probe).name.upper()).exists()
    finally:
        os.unlink(probe)


def _case_by_lookup(folder: Path) -> bool | None:
    """`case_insensitive` without writing: a name in `folder` looked up in the other case (the
    same file: True; none, or another file: False), then `folder`'s own name and its parents'
    while they are on its device; None when no name with ASCII letters was found."""

    def other_case(path: Path) -> bool | None:
        name = path.name
        if not (name.isascii() and name.swapcase() != name):
            return None
        try:
            return os.path.samefile(path, path.with_name(name.swapcase()))
        except FileNotFoundError:
            return False if path.exists() else None  # (gone meanwhile: says nothing)
        except OSError:
            return None

    try:
        with os.scandir(folder) as entries:
            for n, entry in enumerate(entries):
                if n >= 64:
                    break
                answer = other_case(folder / entry.name)
                if answer is not None:
                    return answer
        device = folder.stat().st_dev
    except OSError:
        return None
    here = folder
    while here != here.parent:
        try:
            if here.parent.stat().st_dev != device:
                return None  # the name is looked up on another file system: it says nothing
        except OSError:
            return None
        answer = other_case(here)
        if answer is not None:
            return answer
        here = here.parent
    return None


def _unique_names(
    entries: list[dict[str, Any]], paths: list[Path], fold_case: bool = False
) -> list[str]:
    # names are folders: compared as the output folder's file system compares them. Without case
    # only where it does (`case_insensitive`): there Rec1 and rec1 would write into one folder;
    # on Linux they are two folders, where earlier runs put them (folding there renamed them)
    key = str.casefold if fold_case else str
    explicit = [str(e["name"]) for e in entries if e.get("name")]
    folded = [key(n) for n in explicit]
    dup = sorted({n for n in explicit if folded.count(key(n)) > 1})
    if dup:
        aside = " (case aside: this output folder does not tell them apart)" if fold_case else ""
        raise InputError(f"recording name(s) used twice in the manifest{aside}: {', '.join(dup)}")
    stems = [_stem(p) for p in paths]
    folded_stems = [key(s) for s in stems]
    names = []
    for entry, path, stem in zip(entries, paths, stems):
        if entry.get("name"):
            names.append(str(entry["name"]))
        elif folded_stems.count(key(stem)) > 1:
            names.append(f"{path.parent.name}_{stem}" if path.parent.name else stem)
        else:
            names.append(stem)
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[key(name)] = seen.get(key(name), 0) + 1
        n = seen[key(name)]
        out.append(name if n == 1 else f"{name}-{n}")
    for name in out:
        why = unfit_file_name(name)
        if why:
            raise InputError(
                f"recording name {name!r} cannot be a folder name: {why} (results are opened "
                f"there too); give the recording another `name:` in the manifest"
            )
    return out


def _earlier_folders(
    entries: list[dict[str, Any]], paths: list[Path], names: list[str], out: Path, fold: bool
) -> list[str]:
    """A recording without a `name:` whose folder by today's rule is not in `out` yet, but whose
    results an earlier run put in another folder there (named by an earlier rule: `data_Worm1`
    when names were compared without case on every system), keeps that folder: a resume finds
    them instead of computing everything again beside them. Only a folder that records this very
    input (`recording.folder_owner`) and that no other recording of the manifest is named."""
    if not out.is_dir():
        return names
    missing = [i for i, n in enumerate(names) if not entries[i].get("name")]
    missing = [i for i in missing if not (out / names[i]).exists()]
    if not missing:
        return names
    from napari_catrack.batch.recording import folder_owner
    from napari_catrack.io.output_check import same_file

    key = str.casefold if fold else str
    taken = {key(n) for n in names}
    try:
        folders = sorted(p for p in out.iterdir() if p.is_dir() and key(p.name) not in taken)
    except OSError:
        return names
    owners = {p.name: owner for p in folders if (owner := folder_owner(p))}
    out_names = list(names)
    for i in missing:
        found = [name for name, owner in owners.items() if same_file(owner, paths[i])]
        if len(found) == 1:
            out_names[i] = found[0]
            del owners[found[0]]
    return out_names


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".ome.tiff", ".ome.tif"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem if path.suffix else name


def read_manifest(
    path: str | os.PathLike, session: Any = None, output: str | os.PathLike | None = None
) -> Manifest:
    """Parse and check a manifest; every problem is one `InputError` line naming the recording.
    `session` (`from_session.SessionParams`): values under the manifest's own (`parse_manifest`);
    `output`: the batch's output folder, whose file system decides whether names differing only
    in case are two folders."""
    path = Path(path)
    if not path.is_file():
        problem = "is a folder, not a file" if path.is_dir() else "not found"
        raise InputError(f"manifest {problem}: {path}")
    return parse_manifest(
        _load(path), path.parent, path.name, source=path, session=session, output=output
    )


def parse_manifest(
    data: Any,
    base: str | os.PathLike,
    label: str = "manifest",
    source: Path | None = None,
    session: Any = None,
    output: str | os.PathLike | None = None,
) -> Manifest:
    """Check a manifest given as a dict (the parsed file); relative paths are relative to `base`,
    messages start with `label` (the file's name). Nothing is written.

    `session` (`from_session.SessionParams`, `catrack batch --params-from`): its values are the
    defaults of the steps each recording runs, under the manifest's `defaults.params` and the
    recording's `params`; each spec's `params_from` says which were taken and which overridden.

    `output` (the batch's output folder): recording names that differ only in case are one name
    where its file system does not tell case apart (`case_insensitive`), two elsewhere; without
    it they are two (`runner.check_batch_output` refuses them for such a folder). A recording
    without a `name:` whose results an earlier run put in another folder of `output` keeps that
    folder (`_earlier_folders`).

    Every problem of every recording is found in one pass and raised as one `InputError`, a
    line per problem: a manifest with two wrong names takes one run to fix, not two.
    """
    if not isinstance(data, dict) or not isinstance(data.get("recordings"), list):
        raise InputError(f"{label} must have a list of `recordings` (and optional `defaults`)")
    path = Path(label)
    unknown = sorted(set(data) - {"defaults", "recordings"})
    if unknown:
        raise InputError(
            f"{path.name}: unknown section(s) {', '.join(unknown)}; use defaults, recordings"
        )
    defaults = data.get("defaults") or {}
    base = Path(base)
    problems: list[str] = []
    entries, paths = [], []
    for i, raw in enumerate(data["recordings"]):
        if not isinstance(raw, dict) or not raw.get("path"):
            problems.append(f"{path.name}: recording {i + 1} needs a path")
            continue
        entry = _merge(defaults, raw)
        if "nwb_metadata" not in raw and "nwb" not in _exports(entry):
            entry.pop("nwb_metadata", None)  # the defaults': for the recordings exporting NWB
        bad = sorted(set(entry) - set(RECORDING_KEYS))
        if bad:
            problems.append(
                f"{path.name}: recording {i + 1}: unknown key(s) {', '.join(bad)}; "
                f"known: {', '.join(RECORDING_KEYS)}"
            )
        entries.append(entry)
        paths.append(_resolve(base, entry["path"]))
    specs = []
    try:
        fold = output is not None and case_insensitive(output)
        names = _unique_names(entries, paths, fold)
        if output is not None:
            names = _earlier_folders(entries, paths, names, Path(output), fold)
    except InputError as exc:
        raise _all([*problems, str(exc)]) from None
    for entry, rec_path, name in zip(entries, paths, names):
        spec = _recording(entry, rec_path, name, base, f"{path.name}: {name}", problems, session)
        if spec is not None:
            specs.append(spec)
    if defaults.get("nwb_metadata") and not any("nwb" in _exports(e) for e in entries):
        problems.append(f"{path.name}: defaults: nwb_metadata, but no recording exports nwb "
                        "(add nwb to export: [tables, nwb])")  # fmt: skip
    unused = _defaults_params_unused(defaults, entries)
    if unused:
        problems.append(
            f"{path.name}: defaults: parameters for step(s) nothing runs: {', '.join(unused)}"
        )
    if problems:
        raise _all(problems)
    if not specs:
        raise InputError(f"{path.name} lists no recordings")
    return Manifest(source, specs)


_TRUE, _FALSE = ("true", "yes", "y", "on", "1"), ("false", "no", "n", "off", "0", "")


def _flag(value: Any, where: str, found: list[str]) -> bool:
    """A yes/no setting: a YAML/TOML bool, or the text a CSV cell holds ("False" and "no" were
    read as True: any non-empty string is truthy)."""
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    found.append(f"{where} must be true or false, got {value!r}")
    return False


def _all(problems: list[str]) -> InputError:
    """One error for every problem found: the problem itself when alone, else one per line."""
    if len(problems) == 1:
        return InputError(problems[0])
    return InputError(f"{len(problems)} problems:\n  " + "\n  ".join(problems))


def _recording(
    entry: dict[str, Any],
    rec_path: Path,
    name: str,
    base: Path,
    where: str,
    problems: list[str],
    session: Any = None,
) -> RecordingSpec | None:
    """One recording's spec, its problems appended to `problems` (None when it cannot be built)."""
    from napari_catrack.batch.steps import STEPS

    found: list[str] = []
    try:
        _check_numbers(entry, where)
    except InputError as exc:
        found.append(str(exc))
    if not rec_path.exists() and not any(c in str(rec_path) for c in "*?["):
        found.append(f"{where}: recording not found: {rec_path}")
    steps = _steps(entry)
    if not steps:
        found.append(f"{where}: no steps to run (give `steps` in defaults or the recording)")
    wrong = [s for s in steps if s not in STEPS]
    if wrong:
        found.append(f"{where}: unknown step(s) {', '.join(wrong)}; known: {', '.join(STEPS)}")
    params = entry.get("params") or {}
    stray = sorted(set(params) - set(steps))
    if stray:
        found.append(f"{where}: parameters for step(s) not run: {', '.join(stray)}")
    files = {k: _resolve(base, entry[k]) for k in FILE_KEYS if entry.get(k)}
    for key, file in files.items():
        if not file.exists():
            found.append(f"{where}: {key} file not found: {file}")
    export = _exports(entry)
    if set(export) - set(EXPORTS):
        found.append(f"{where}: export must list some of {', '.join(EXPORTS)}")
    if "nwb_metadata" in files and files["nwb_metadata"].exists():
        if "nwb" not in export:
            found.append(f"{where}: nwb_metadata, but export has no nwb (add nwb to export: "
                         "[tables, nwb])")  # fmt: skip
        from napari_catrack.io.nwb import read_metadata

        try:  # its keys and values now, as `catrack export-nwb --metadata` checks them
            read_metadata(files["nwb_metadata"])
        except InputError as exc:
            found.append(f"{where}: nwb_metadata: {exc}")
    values: dict[str, dict[str, Any]] = {}
    taken: dict[str, dict[str, Any]] = {}  # the session's values in force (none overridden)
    overridden: dict[str, dict[str, Any]] = {}
    for step in (s for s in steps if s in STEPS):
        try:
            own = _field_names(STEPS[step].params, params.get(step))
        except InputError as exc:
            found.append(f"{where}: {step} parameters: {exc}")
            continue
        recorded = dict(session.values.get(step, {})) if session is not None else {}
        values[step] = {**recorded, **own}
        if kept := {k: v for k, v in recorded.items() if k not in own}:
            taken[step] = kept
        if over := {k: (v, own[k]) for k, v in recorded.items() if k in own and own[k] != v}:
            overridden[step] = over
    params_from = {}
    if session is not None:
        params_from = {
            "session": str(session.path),
            "file": dict(session.file),
            "steps": taken,
            "overridden": overridden,
        }
    spec = RecordingSpec(  # absolute paths: workers and sessions need no working folder
        name=name,
        path=_absolute(rec_path),
        steps=tuple(steps),
        params=values,
        options={k: entry[k] for k in OPEN_KEYS if entry.get(k) is not None},
        files={k: _absolute(f) for k, f in files.items()},
        seed_frame=_whole(entry.get("seed_frame")),
        no_align=_flag(entry.get("no_align"), f"{where}: no_align", found),
        export=tuple(export),
        params_from=params_from,
    )
    for step in values:  # parameter names and values, now rather than mid-batch
        try:
            spec.step_params(step)
        except (InputError, TypeError) as exc:
            found.append(f"{where}: {step} parameters: {exc}")
    problems += found
    return None if found else spec


def _exports(entry: dict[str, Any]) -> list[str]:
    """A recording's `export` list (`[tables]` when not given; one word is a list of one)."""
    export = entry.get("export") or list(DEFAULT_EXPORT)
    return [export] if isinstance(export, str) else list(export)


def _whole(value: Any) -> int | None:
    """`seed_frame` as a number (one `_check_numbers` refused is a problem already)."""
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _field_names(cls: Any, values: Any) -> dict[str, Any]:
    """A step's manifest values by field name: the command-line spelling (`min-interval`,
    `baseline`) is taken for its field (`min_interval_s`, `dff_baseline`) as
    `StepParams.option_aliases` says; giving both is an error."""
    values = dict(values or {})
    if cls is None:
        return values
    aliases = cls.option_aliases()
    out: dict[str, Any] = {}
    for key, value in values.items():
        field = aliases.get(key, key)
        if field in out:
            raise InputError(f"{field} is given twice (as {field} and as {key})")
        out[field] = value
    return out


def _check_numbers(entry: dict[str, Any], where: str) -> None:
    """Frame rate and pixel size positive, channel and frame indices whole numbers >= 0 (checked
    only: the values stay as given, so the step keys of earlier runs still match)."""
    for key in ("fps", "pixel_size_um"):
        value = entry.get(key)
        if value is None:
            continue
        try:
            number = float("nan") if isinstance(value, bool) else float(value)
        except (TypeError, ValueError):
            number = float("nan")
        if not (0 < number < float("inf")):
            raise InputError(f"{where}: {key} must be a positive number, got {value!r}")
    for key in ("green_channel", "red_channel", "seed_frame"):
        value = entry.get(key)
        if value is None:
            continue
        whole = isinstance(value, int | float) and not isinstance(value, bool)
        if not (whole and float(value).is_integer() and value >= 0):
            raise InputError(f"{where}: {key} must be a whole number >= 0, got {value!r}")


def _resolve(base: Path, value: Any) -> Path:
    p = Path(str(value)).expanduser()
    return p if p.is_absolute() else base / p


def _absolute(path: Path) -> Path:
    """Relative to the manifest is relative to the folder the batch started in until here: a
    worker on a cluster runs elsewhere. Symbolic links are kept (not `resolve()`)."""
    return Path(os.path.abspath(path))
