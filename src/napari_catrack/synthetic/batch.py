"""A folder of synthetic moving-worm recordings with seeds and a manifest, for `catrack batch`
tests, benchmarks and a first try (docs/batch.md)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd


def write_batch_folder(
    folder: str | os.PathLike,
    n_recordings: int = 12,
    *,
    n_frames: int = 60,
    shape: tuple[int, int] = (96, 96),
    n_neurons: int = 6,
    steps: tuple[str, ...] = ("align", "track", "traces", "transients"),
    seed: int = 0,
    fps: float = 10.0,
    extra: dict | None = None,
) -> Path:
    """`folder/recNN.tif` + `seedsNN.csv` (the true positions at frame 0) and `manifest.yaml`."""
    import yaml

    from napari_catrack.io.atomic import write_text_atomic
    from napari_catrack.io.tables import write_table
    from napari_catrack.io.tiff import write_movie_tiff
    from napari_catrack.synthetic.worm import make_worm_recording

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    recordings = []
    for i in range(n_recordings):
        syn = make_worm_recording(n_frames=n_frames, shape=shape, n_neurons=n_neurons, seed=seed + i,
                                  fps=fps, min_spacing_px=8.0)  # fmt: skip
        write_movie_tiff(folder / f"rec{i:02d}.tif", syn.green, syn.red, fps=fps,
                         pixel_size_um=syn.pixel_size_um)  # fmt: skip
        pos = syn.truth.positions[0]
        seeds = pd.DataFrame(
            {"neuron_id": list(syn.truth.neuron_ids), "y": pos[:, 0], "x": pos[:, 1]}
        )
        write_table(seeds, folder / f"seeds{i:02d}.csv")
        recordings.append(
            {"name": f"rec{i:02d}", "path": f"rec{i:02d}.tif", "seeds": f"seeds{i:02d}.csv"}
        )
    manifest = {
        "defaults": {"steps": list(steps), "fps": fps, **(extra or {})},
        "recordings": recordings,
    }
    return write_text_atomic(folder / "manifest.yaml", yaml.safe_dump(manifest, sort_keys=False))
