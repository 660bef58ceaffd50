"""The head-fixed two-photon path on the synthetic sample, scored against its ground truth.

`catrack demo --two-photon -o DIR` calls `run_two_photon_demo`: motion correction, summary
images, source extraction with evaluation, then the existing steps (transients, ensembles) on
the extracted traces, all recorded in one session file, with each step scored against the truth
(shift error, detection F1 within 4 px, trace r).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from napari_catrack.io.atomic import atomic_write_path, write_text_atomic

Log = Callable[[str], None]


def _csv(table: pd.DataFrame, path: Path) -> None:
    with atomic_write_path(path) as tmp:
        table.to_csv(tmp, index=False)


def run_two_photon_demo(
    output: str | Path, *, n_frames: int = 600, seed: int = 0, log: Log = print
) -> dict[str, Any]:
    import tifffile

    from napari_catrack import __version__
    from napari_catrack.core.ensembles import find_ensembles, trains_from_table
    from napari_catrack.core.ensembles.params import EnsembleParams
    from napari_catrack.core.ensembles.records import ensemble_input, record_ensembles
    from napari_catrack.core.registration import RegisterParams, register_movie, shift_error
    from napari_catrack.core.registration.records import record_registration
    from napari_catrack.core.sources import extract_sources
    from napari_catrack.core.sources.scoring import (
        match_centres,
        score_detection,
        trace_correlations,
    )
    from napari_catrack.core.sources.session import record_sources
    from napari_catrack.core.summary import SummaryParams, summary_images
    from napari_catrack.core.summary_records import record_summary
    from napari_catrack.core.transients import cell_table, detect_transients
    from napari_catrack.core.transients.params import TransientParams
    from napari_catrack.core.transients.records import record_transients
    from napari_catrack.io.sources import write_sources
    from napari_catrack.io.tiff import write_movie_tiff
    from napari_catrack.session import Session
    from napari_catrack.synthetic import TWO_PHOTON_VARIANTS, make_two_photon_movie

    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"version": __version__, "frames": n_frames, "seed": seed}
    clock = time.perf_counter()

    def done(name: str, **facts: Any) -> None:
        nonlocal clock
        now = time.perf_counter()
        summary[name] = {**facts, "seconds": round(now - clock, 2)}
        clock = now
        log(f"[{name}] " + ", ".join(f"{k} {v}" for k, v in facts.items()) + f" ({summary[name]['seconds']:.1f} s)")  # fmt: skip

    syn = make_two_photon_movie(n_frames, (160, 160), n_cells=30, seed=seed, **TWO_PHOTON_VARIANTS["easy"])  # fmt: skip
    movie_path = write_movie_tiff(out / "movie.tif", syn.movie, fps=syn.fps, pixel_size_um=syn.pixel_size_um)  # fmt: skip
    truth_shifts = np.array([syn.truth.displacement(t).mean(axis=(1, 2)) for t in range(n_frames)])
    gt = out / "ground_truth"
    _csv(pd.DataFrame({"frame": np.arange(n_frames), "dy": truth_shifts[:, 0], "dx": truth_shifts[:, 1]}), gt / "shifts.csv")  # fmt: skip
    _csv(
        pd.DataFrame(
            {
                "neuron": np.arange(len(syn.truth.centres)),
                "y": syn.truth.centres[:, 0],
                "x": syn.truth.centres[:, 1],
                "spikes": syn.truth.spikes.sum(axis=1),
            }
        ),
        gt / "cells.csv",
    )
    session = Session(out / "two_photon.catrack.h5", autosave=False)
    height, width = syn.movie.shape[1:]
    session.set_recording(str(movie_path), {}, {"frames": n_frames, "fps": syn.fps, "height": height, "width": width})  # fmt: skip
    done("movie", path=movie_path.name, cells=len(syn.truth.centres))

    reg = register_movie(movie_path, RegisterParams(), output=out / "registered.tif")
    _csv(reg.shifts_table(), out / "shifts.csv")
    _csv(reg.patch_table(), out / "patches.csv")
    record_registration(session, reg, inputs={"recording": movie_path})
    err = shift_error(reg.shifts, truth_shifts)
    done("registration", median_error_px=round(err["median_px"], 4), residual_px=round(reg.metrics["residual_motion_median_px"], 4))  # fmt: skip

    summary_params = SummaryParams()
    images = summary_images(out / "registered.tif", summary_params)
    for name, img in images.as_dict().items():
        with atomic_write_path(out / "summary" / f"{name}.tif") as tmp:
            tifffile.imwrite(tmp, img)
    record_summary(session, images, summary_params, inputs={"recording": out / "registered.tif"})
    done("summary", images=len(images.as_dict()))

    src = extract_sources(out / "registered.tif", fps=syn.fps)
    write_sources(out / "sources", src.footprints, src.components, src.traces_table(), {"fps": src.fps})  # fmt: skip
    record_sources(session, src, inputs={"recording": out / "registered.tif"})
    acc = src.components[src.components["accepted"]]
    active = syn.truth.spikes.sum(axis=1) > 0
    det = score_detection(acc[["y", "x"]].to_numpy(), syn.truth.centres[active])
    pairs = match_centres(acc[["y", "x"]].to_numpy(), syn.truth.centres[active])
    rows = acc.index.to_numpy()[pairs[0]]
    r = trace_correlations(src.denoised, syn.truth.traces[active], (rows, pairs[1]))
    done("sources", components=len(src.components), accepted=len(acc), f1=round(det["f1"], 3),
         median_r=round(float(np.nanmedian(r)), 3) if len(r) else None)  # fmt: skip

    keep = src.components["accepted"].to_numpy()
    ids = src.components["neuron_id"].astype(str).to_numpy()[keep]
    transient_params = TransientParams(method="rules")
    transients = detect_transients(src.dff[keep], syn.fps, neuron_ids=ids, params=transient_params)
    cells = cell_table(transients, ids, n_frames, syn.fps, total_frames=n_frames)
    _csv(transients, out / "transients.csv")
    _csv(cells, out / "cells.csv")
    record_transients(session, transients, cells, transient_params, fps=syn.fps)  # keeps verdicts
    active = int(transients["neuron_id"].nunique()) if len(transients) else 0  # with transients
    done("transients", transients=len(transients), cells=len(cells), active_cells=active)

    # the session's neurons less its rejected cells (`ensemble_input`, as every route counts
    # them): here the accepted sources, on which alone the transients were detected
    kept, neuron_ids, _rejected = ensemble_input(session, transients)
    trains = trains_from_table(kept, n_frames=n_frames, neuron_ids=neuron_ids)
    ens = find_ensembles(trains, syn.fps, EnsembleParams(n_shuffles=200, seed=seed))
    _csv(ens.events, out / "ensembles" / "ensemble_events.csv")
    record_ensembles(session, ens)
    done("ensembles", events=len(ens.events))

    session.save()
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2, default=float))
    log(f"session: {session.path}")
    return summary
