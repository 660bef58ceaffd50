"""The parameters a session's steps were run with, as a batch's defaults: tune on one recording
(napari, `catrack ... --session`), analyse the others the same way.

`catrack batch MANIFEST --params-from SESSION` puts them under the manifest's own values (the
manifest's `defaults.params` and a recording's `params` win); `catrack info SESSION --params`
prints them as the `defaults: params:` block of a manifest. The rule is the Batch widget's ("use
this session's parameters", `steps.session_params`): per step, the recorded values that differ
from this version's defaults. Only the session's parameters are read, never its tables.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from napari_catrack.batch.steps import STEPS, recorded_params
from napari_catrack.errors import InputError


@dataclass(frozen=True)
class SessionParams:
    """What a session says about the parameters of the batch steps (see the module docstring)."""

    path: Path
    values: dict[str, dict[str, Any]]  # batch step -> its values that differ from the defaults
    as_default: tuple[str, ...] = ()  # steps the session ran with the defaults
    missing: dict[str, str] = field(default_factory=dict)  # step -> why it keeps the defaults
    unknown: dict[str, dict[str, Any]] = field(default_factory=dict)  # step -> dropped values
    versions: dict[str, str] = field(default_factory=dict)  # step -> version that recorded it
    file: dict[str, Any] = field(default_factory=dict)  # io.provenance.file_provenance(path)

    def lines(self, steps: Any = None, *, dropped_only: bool = False) -> list[str]:
        """What was taken and what was not, one line per step of `steps` (default: every step
        read), in the order an analysis runs them, and a line for a step's dropped values
        (only those with `dropped_only`)."""
        name = self.path.name
        out = []
        for step in (s for s in STEPS if steps is None or s in steps):
            if dropped_only:
                pass
            elif step in self.values:
                out.append(f"parameters from {name}: {step}: {_values(self.values[step])}")
            elif step in self.as_default:
                out.append(f"parameters from {name}: {step}: the defaults (none changed)")
            elif step in self.missing:
                out.append(f"{name} has {self.missing[step]}: {step} keeps its defaults")
            if step in self.unknown:
                was = self.versions.get(step) or "an unknown version"
                out.append(
                    f"{name}: {step}: {_values(self.unknown[step])} (recorded by napari-catrack "
                    f"{was}) is no {step} parameter of this version: left out"
                )
        return out


def _values(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_text(v)}" for k, v in values.items())


def _text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    return str(value)


def _provenance(path: Path) -> dict[str, Any]:
    """`Session.read_provenance`, with a file that is no session said as such in one line."""
    from napari_catrack.session import DamagedSession, Session

    if path.is_dir():
        raise InputError(f"{path} is a folder, not a session file (*.catrack.h5)")
    try:
        return Session.read_provenance(path)
    except DamagedSession as exc:
        if path.name.lower().endswith(".catrack.h5"):
            raise  # a session file that is damaged: its own line says what to do
        raise InputError(
            f"{path.name} is not a napari-catrack session (*.catrack.h5): give the session "
            "file of the recording whose parameters you tuned"
        ) from exc


def read_session_params(
    path: str | os.PathLike, steps: tuple[str, ...] | list[str] | None = None
) -> SessionParams:
    """The session's non-default values for `steps` (default: every batch step); a step the
    session lacks keeps its defaults (`missing` says so); a recorded value that is no parameter of
    this version is left out (`unknown`); a recorded value this version refuses is an
    `InputError` naming the step."""
    from napari_catrack.io.provenance import file_provenance

    path = Path(path)
    recorded = _provenance(path)["steps"]
    values: dict[str, dict[str, Any]] = {}
    as_default, missing, unknown, versions = [], {}, {}, {}
    for step in steps or list(STEPS):
        info = STEPS[step]
        if info.session_step not in recorded:
            missing[step] = f"no {info.session_step} step"
            continue
        rec = recorded[info.session_step]
        versions[step] = rec.get("version", "")
        params = rec.get("params") or {}
        if step == "sources" and "sources" not in params:
            missing[step] = "imported sources, not extracted ones"
            continue
        if step == "traces" and "sources" in params:  # the sources step's traces (two-photon)
            missing[step] = "the traces of its sources, not of catrack traces"
            continue
        try:
            changed, dropped = recorded_params(step, params)
        except (InputError, TypeError) as exc:
            raise InputError(
                f"{path.name}: its {step} parameters are not valid in this version ({exc})"
            ) from None
        if dropped:
            unknown[step] = dropped
        if changed:
            values[step] = changed
        else:
            as_default.append(step)
    return SessionParams(
        path=Path(os.path.abspath(path)),
        values=values,
        as_default=tuple(as_default),
        missing=missing,
        unknown=unknown,
        versions=versions,
        file=file_provenance(path),
    )


def read_cleaning_params(path: str | os.PathLike) -> tuple[bool, dict[str, Any]]:
    """Whether a session's `traces` step was cleaned (its `dff_clean` column), and the cleaning
    values it ran with that differ from the defaults (`CleaningParams`): `catrack traces
    --params-from` (the batch runs no cleaning). (False, {}) without a cleaned traces step."""
    from napari_catrack.core.signals.params import CleaningParams

    path = Path(path)
    params = (_provenance(path)["steps"].get("traces") or {}).get("params") or {}
    if "cleaning" not in params:
        return False, {}
    recorded = params.get("cleaning_params")
    try:
        return True, CleaningParams.from_dict(
            recorded if isinstance(recorded, dict) else {}
        ).changed()
    except (InputError, TypeError) as exc:
        raise InputError(
            f"{path.name}: its traces cleaning values are not valid in this version ({exc})"
        ) from None


def manifest_block(params: SessionParams) -> str:
    """The session's values as a manifest's `defaults: params:` block (YAML), with a comment
    saying where they came from; `read_manifest` takes it as written."""
    import yaml

    from napari_catrack import __version__

    head = (
        f"# parameters of {params.path.name} that differ from napari-catrack {__version__}'s "
        "defaults\n# (a manifest refuses parameters of a step it does not run: delete those)\n"
    )
    block = {"defaults": {"params": params.values}}
    return head + yaml.safe_dump(block, sort_keys=False, default_flow_style=False)


def override_lines(manifest: Any) -> list[str]:
    """Where the manifest overrides a value taken from the session: one line per parameter,
    naming the recordings (or "every recording")."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    session_value: dict[tuple[str, str], Any] = {}
    for spec in manifest.recordings:
        for step, values in (spec.params_from.get("overridden") or {}).items():
            for name, (theirs, ours) in values.items():
                found.setdefault((step, name), {})[spec.name] = ours
                session_value[(step, name)] = theirs
    out = []
    n = len(manifest.recordings)
    for (step, name), by in found.items():
        given = {_text(v) for v in by.values()}
        if len(by) == n and len(given) == 1:
            where = f"{given.pop()} for every recording"
        else:
            where = ", ".join(f"{_text(v)} for {rec}" for rec, v in by.items())
        out.append(
            f"the manifest overrides the session's {step} {name}={_text(session_value[(step, name)])}: "
            f"{where}"
        )
    return out
