"""The "registration" session step: the one way every caller records a motion correction.

table `shifts` (frame, dy, dx); arrays `template`, `mean_registered` (+ `patch_shifts`,
`patch_centres` in piecewise mode); attrs the result's summary (`RegistrationResult.attrs()`: mode, metrics, bad frames, `output` = the registered
movie), `inputs` (files read, `io.provenance`) and `movie_options` (how the file was read:
channel, plane, dataset; when given); params `RegisterParams.stored()` (`to_dict()` and
`patch_px_auto`: patch_px null is the automatic size; read back with `recorded_values`, which
takes a record without the mark, written when the automatic size was stored as 96, as automatic).
"""

from __future__ import annotations

from typing import Any

STEP = "registration"


def record_registration(
    session,
    result,
    *,
    output=None,
    inputs: dict[str, Any] | None = None,
    movie_options: dict[str, Any] | None = None,
    save=None,
):
    """Store a `RegistrationResult`; `output` overrides where the registered movie is named.
    `movie_options`: how the movie was read from its file (e.g. `{"channel": 1}`), kept in the
    step's attrs: the session's recording reference may have been set by another step."""
    from napari_catrack.io.provenance import inputs_provenance

    tables = {"shifts": result.shifts_table()}
    arrays = {"template": result.template, "mean_registered": result.mean_registered}
    if result.patch_shifts is not None:
        arrays.update(patch_shifts=result.patch_shifts, patch_centres=result.patch_centres)
    attrs = result.attrs()
    if output is not None:
        attrs["output"] = str(output)
    elif attrs.get("output"):
        attrs["output"] = session.stored_path(attrs["output"])
    attrs["inputs"] = inputs_provenance(session, inputs)
    if movie_options:
        attrs["movie_options"] = dict(movie_options)
    return session.record(
        STEP, tables=tables, arrays=arrays, attrs=attrs, params=result.params.stored(), save=save
    )
