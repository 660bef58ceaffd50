"""Source extraction: cells found where the truth has them, traces that follow the activity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tifffile
from scipy.optimize import linear_sum_assignment

from napari_catrack.cli import main
from napari_catrack.core.sources import EvaluationParams, SourcesParams, evaluate, extract_sources
from napari_catrack.errors import InputError
from napari_catrack.io.sources import TRACE_COLUMNS, read_sources
from napari_catrack.synthetic import make_two_photon_movie


@pytest.fixture(scope="module")
def movie():
    return make_two_photon_movie(
        400, (64, 64), n_cells=6, seed=11, motion_px=0, silent_fraction=0,
        cell_brightness=(60, 120), event_rate_hz=(0.3, 0.8),
    )  # fmt: skip


@pytest.fixture(scope="module")
def result(movie):
    return extract_sources(movie.movie, SourcesParams(patch_px=0), fps=movie.fps)


def _match(est, tru, tol=4.0):
    d = np.hypot(*(est[:, None] - tru[None]).transpose(2, 0, 1))
    d[d > tol] = 1e6
    i, j = linear_sum_assignment(d)
    ok = d[i, j] <= tol
    return i[ok], j[ok]


def test_cells_are_found_and_traces_follow_the_truth(movie, result):
    acc = result.components[result.components["accepted"]]
    i, j = _match(acc[["y", "x"]].to_numpy(), movie.truth.centres)
    assert len(j) >= 5 and len(acc) - len(i) <= 1  # recall >= 5/6, at most one false cell
    rows = acc.index.to_numpy()[i]
    r = [np.corrcoef(result.denoised[a], movie.truth.traces[b])[0, 1] for a, b in zip(rows, j, strict=True)]  # fmt: skip
    assert np.median(r) > 0.9
    assert result.footprints.shape == (len(result.components), 64, 64)
    assert np.all(result.spikes[rows] >= 0) and np.isfinite(result.dff[rows]).all()


@pytest.mark.slow
def test_patches_give_the_same_cells(movie, result):
    patched = extract_sources(movie.movie, SourcesParams(patch_px=40, patch_overlap_px=12), fps=movie.fps)  # fmt: skip
    a = result.components.query("accepted")[["y", "x"]].to_numpy()
    b = patched.components.query("accepted")[["y", "x"]].to_numpy()
    i, _ = _match(a, b)
    assert len(i) >= len(a) - 1 and len(b) <= len(a) + 1  # duplicates across patches removed


def test_a_movie_larger_than_memory_is_read_once_per_band_of_patches(movie):
    """Above the memory bound the patches are read in bands (one pass over the movie each, the
    band's patches in parallel), not once per patch: same components and traces as the movie
    held whole (review 7, finding 4)."""
    from napari_catrack.core.sources.extract import patch_groups
    from napari_catrack.core.sources.patches import tile
    from napari_catrack.io.frames import open_frames

    p = SourcesParams(patch_px=40, patch_overlap_px=12)  # 2 x 2 patches on 64 x 64
    whole = extract_sources(movie.movie, p, fps=movie.fps)
    t = len(movie.movie)
    row_bytes = t * 40 * 64 * 4  # one row of patches, all frames, float32
    patches = tile((64, 64), 40, 12)
    for budget, n_groups in ((row_bytes, 2), (1.0, 4)):
        assert len(patch_groups(patches, t, budget)) == n_groups
        source = open_frames(movie.movie)
        reads = []
        plain = source.read
        source.read = lambda t0, t1, plain=plain, reads=reads: (
            reads.append(t1 - t0) or plain(t0, t1)
        )
        banded = extract_sources(source, p, fps=movie.fps, memory_bytes=budget)
        assert sum(reads) == n_groups * t  # the movie read once per group, not once per patch
        pd.testing.assert_frame_equal(banded.components, whole.components)
        for name in ("footprints", "raw", "denoised", "spikes", "dff"):
            np.testing.assert_allclose(getattr(banded, name), getattr(whole, name), rtol=1e-6, atol=1e-6, err_msg=name)  # fmt: skip


def test_evaluation_thresholds_and_reasons(result):
    strict = evaluate(result.components, EvaluationParams(min_snr=1e6))
    assert not strict["accepted"].any() and strict["reason"].str.contains("SNR").all()
    loose = evaluate(result.components, EvaluationParams(min_snr=0, min_r=-1, min_area_px=0))
    assert loose["accepted"].sum() == (result.components["area"] <= 800).sum()
    with pytest.raises(InputError):
        EvaluationParams(min_area_px=10, max_area_px=5)


def test_cli_sources_files_and_bad_input(tmp_path, movie, capsys):
    rec = tmp_path / "m.tif"
    tifffile.imwrite(rec, movie.movie[:200])
    assert main(["sources", str(rec), "--fps", "30", "--patch-px", "0", "-o", str(tmp_path / "s")]) == 0  # fmt: skip
    files = read_sources(tmp_path / "s")
    assert list(files.components.columns[:7]) == ["neuron_id", "y", "x", "area", "snr", "r_value", "accepted"]  # fmt: skip
    assert list(files.traces.columns) == TRACE_COLUMNS
    assert len(files.footprints) == len(files.components)
    assert len(files.traces) == 200 * len(files.components)
    tifffile.imwrite(tmp_path / "short.tif", movie.movie[:5])
    assert main(["sources", str(tmp_path / "short.tif"), "--fps", "30", "-o", str(tmp_path / "x")]) == 2  # fmt: skip
    assert "at least 8 frames" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    with pytest.raises(InputError, match="frame rate"):
        extract_sources(movie.movie[:50], fps=None)
    assert pd.read_csv(tmp_path / "s" / "components.csv")["neuron_id"].is_unique


@pytest.mark.slow
def test_drawn_cell_gets_a_footprint_and_a_demixed_trace(movie, result):
    from napari_catrack.core.sources.refit import masks_from_labels, refit_components
    from napari_catrack.core.sources.session import labels_from_footprints

    # forget the best-found cell, then draw it back by hand as a disk
    k = int(result.components["snr"].idxmax())
    keep = [i for i in range(len(result.components)) if i != k]
    from dataclasses import replace

    fewer = replace(result, footprints=result.footprints[keep], components=result.components.iloc[keep],
                    raw=result.raw[keep], denoised=result.denoised[keep], spikes=result.spikes[keep],
                    dff=result.dff[keep])  # fmt: skip
    cy, cx = result.components.loc[k, ["y", "x"]]
    yy, xx = np.mgrid[0:64, 0:64]
    labels = labels_from_footprints(fewer.footprints, fewer.components["neuron_id"])
    labels[(yy - cy) ** 2 + (xx - cx) ** 2 <= 25] = 99
    masks = masks_from_labels(labels, fewer.footprints, fewer.components["neuron_id"])
    assert 99 in masks  # (a neighbour the disk painted over counts as edited too)
    out = refit_components(movie.movie, fewer, masks)
    row = out.components[out.components["neuron_id"] == 99].iloc[0]
    assert row["accepted"] and np.hypot(row["y"] - cy, row["x"] - cx) < 1.5
    new = out.denoised[-1]
    assert np.corrcoef(new, result.denoised[k])[0, 1] > 0.9


def test_session_records_traces_and_shares_verdicts(result):
    from napari_catrack.core.sources.session import (
        read_verdicts,
        record_sources,
        set_verdict,
        sources_from_session,
        status_of,
    )  # fmt: skip
    from napari_catrack.core.transients.curation import matrix_from_long
    from napari_catrack.session import Session

    s = Session(autosave=False)
    record_sources(s, result)
    ids, _frames, dff = matrix_from_long(s["traces"].tables["traces"])  # what the curation reads
    assert len(ids) == len(result.components) and dff.shape[1] == result.raw.shape[1]
    rejected = result.components.loc[~result.components["accepted"], "neuron_id"].astype(str)
    assert set(read_verdicts(s)["neuron_id"]) == set(rejected)
    first = result.components["neuron_id"].iloc[0]
    set_verdict(s, first, "rejected", "suspicious footprint")
    assert status_of(s, [first]) == [("rejected", "suspicious footprint")]
    back = sources_from_session(s)
    np.testing.assert_allclose(back.raw, result.raw)


def test_erased_labels_are_rejected_and_come_back_with_their_evaluation(result):
    from dataclasses import replace

    from napari_catrack.core.sources.session import (
        AUTO,
        DELETED,
        record_sources,
        set_verdict,
        status_of,
        sync_deleted_labels,
    )
    from napari_catrack.session import Session

    session = Session()
    comps = result.components.assign(accepted=True, reason="")
    comps.loc[0, ["accepted", "reason"]] = [False, "SNR 1 < 3"]
    record_sources(session, replace(result, components=comps))
    ids = comps["neuron_id"].astype(str).tolist()
    set_verdict(session, ids[2], "accepted")
    deleted, restored = sync_deleted_labels(session, ids, ids[3:])
    assert deleted == ids[:3] and restored == []
    assert [s for s in status_of(session, ids[:3])] == [("rejected", DELETED)] * 3
    assert sync_deleted_labels(session, ids, ids[3:]) == ([], [])  # nothing new
    assert sync_deleted_labels(session, ids, ids) == ([], ids[:3])
    back = status_of(session, ids[:3])
    assert back[0] == ("rejected", AUTO + "SNR 1 < 3") and back[1] == ("unverified", "")
    assert back[2] == ("unverified", "")  # a verdict given before the deletion is not remembered
    assert sync_deleted_labels(session, ids[:2], []) == (
        ids[:2],
        [],
    )  # labels never shown: untouched


@pytest.mark.parametrize("shape", [(12, 40, 56), (3, 140, 130)])
def test_centred_psf_filter_is_the_difference_of_gaussians(shape):
    """The batched-matrix Gaussians (patch-sized frames) and the kernel (large frames) give
    scipy's difference of Gaussians, temporal median removed."""
    from scipy.ndimage import gaussian_filter

    from napari_catrack.core.sources.init import filtered

    y = np.random.default_rng(0).random(shape).astype(np.float32)
    ref = gaussian_filter(y, (1, 2, 2)) - gaussian_filter(y, (1, 8, 8), truncate=2.5)
    ref -= np.median(ref, axis=0)
    assert np.allclose(filtered(y, 4.0), ref, atol=1e-4)


def test_a_short_movie_is_flagged(movie, result):
    """Before: 20 frames gave 164 speckle 'cells' with no word of warning (the GUI review)."""
    assert result.warnings == []  # 400 frames: nothing to say
    short = extract_sources(movie.movie[:20], SourcesParams(patch_px=0), fps=movie.fps)
    assert len(short.warnings) == 1 and "only 20 frames" in short.warnings[0]


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_a_flat_trace_merges_with_nothing_and_warns_nothing():
    """A component the fit emptied has a flat trace: np.corrcoef divided by its zero spread and
    `catrack sources` printed numpy's 'invalid value' warning (docs review 7, item 8)."""
    from napari_catrack.core.sources.extract import _merge_in_patch

    rng = np.random.default_rng(0)
    trace = rng.random(50)
    A = np.ones((4, 3))  # every footprint overlaps every other
    C = np.stack([trace, 2 * trace + 1, np.zeros(50)])
    merged = _merge_in_patch(A, C, 0.8)
    assert merged is not None and merged.shape == (4, 2)  # the two alike merged, the flat one kept


def test_a_frame_smaller_than_the_patches_is_one_patch(movie):
    """Sources' default 64 px patches on a smaller frame (48 x 48) run as one whole-frame patch,
    with no patch size to set by hand (only registration's 96 px patches needed it)."""
    small = movie.movie[:150, :48, :48]
    default = extract_sources(small, SourcesParams(), fps=movie.fps)
    whole = extract_sources(small, SourcesParams(patch_px=0), fps=movie.fps)
    assert len(default.components) == len(whole.components) >= 1
    np.testing.assert_array_equal(default.footprints, whole.footprints)


def test_labels_of_0_based_ids_and_edits_map_back_to_them():
    """A tool's cell 0 is label 1 in a Labels layer (0 is the background); an edit maps back."""
    from napari_catrack.core.sources.refit import masks_from_labels
    from napari_catrack.core.sources.session import label_offset, labels_from_footprints

    fp = np.zeros((3, 20, 20), np.float32)
    for i in range(3):
        fp[i, 2 + 6 * i : 6 + 6 * i, 2:6] = 1.0
    ids = np.array([0, 1, 2])
    labels = labels_from_footprints(fp, ids)
    assert label_offset(ids) == 1 and label_offset([1, 2]) == 0 and label_offset([]) == 0
    assert sorted(np.unique(labels)) == [0, 1, 2, 3]
    assert (labels[2:6, 2:6] == 1).all()  # cell 0 is visible
    edited = labels.copy()
    edited[2:6, 6:8] = 1  # cell 0 grown sideways
    edited[15:18, 12:16] = 4  # a new cell painted with the next label
    masks = masks_from_labels(edited, fp, ids)
    assert sorted(masks) == [0, 3]  # cell 0 and a new id 3, not 1 and 4
    assert masks[0][2:6, 2:8].all() and masks[3][15:18, 12:16].all()
    # ids from 1 (our own extraction) are their labels, as before
    assert (labels_from_footprints(fp, ids + 1) == labels).all()


def test_hand_verdicts_follow_their_footprint_into_a_new_extraction(result):
    """A new extraction (other settings) into a session of extracted cells kept the hand
    verdicts by id: cell 0's verdict landed on the new run's cell 0, another cell. Now a verdict
    follows the cell of the same footprint, else it is dropped and said, counted. Here the new
    run finds the same cells in reverse order, one of them a pixel smaller."""
    from dataclasses import replace

    from napari_catrack.core.sources.footprints import Footprints
    from napari_catrack.core.sources.session import AUTO, read_verdicts, record_sources, set_verdict
    from napari_catrack.session import Session

    k = len(result.components)
    assert k >= 4
    dense = np.asarray(result.footprints)[::-1].copy()  # new cell j: the old cell k-1-j
    dense[1][tuple(np.argwhere(dense[1] > 0)[0])] = 0  # the old cell k-2, reshaped
    comps = result.components.iloc[::-1].reset_index(drop=True)
    comps = comps.assign(neuron_id=comps["neuron_id"].to_numpy()[::-1])  # ids in the new order
    flip = lambda a: np.asarray(a)[::-1].copy()  # noqa: E731
    again = replace(result, components=comps, footprints=Footprints.from_dense(dense),
                    raw=flip(result.raw), denoised=flip(result.denoised),
                    spikes=flip(result.spikes), dff=flip(result.dff), notes=[])  # fmt: skip
    ids = [str(i) for i in result.components["neuron_id"]]
    s = Session(autosave=False)
    record_sources(s, result)
    for nid, status in ((ids[0], "rejected"), (ids[1], "accepted"), (ids[-2], "rejected")):
        set_verdict(s, nid, status, "by hand")
    said = record_sources(s, again)  # catrack sources / the Sources widget, other settings

    def hand():
        v = read_verdicts(s)
        v = v[~v["reason"].str.startswith(AUTO)]
        return dict(zip(v["neuron_id"], v["status"], strict=True))

    new_of = dict(zip(ids, ids[::-1], strict=True))  # old id -> the new id of its footprint
    want = {new_of[ids[0]]: "rejected", new_of[ids[1]]: "accepted"}
    assert hand() == want
    assert said == [
        f"1 hand verdict on a cell this extraction no longer has was dropped: id {ids[-2]} (the "
        "session's cells were extracted before, these are a new extraction's, with ids of their "
        "own: no cell of this extraction has its footprint)"
    ]
    assert said[0] in s["sources"].attrs["notes"]
    # the same cells recorded again (the Sources widget re-judging them): every verdict stays
    assert record_sources(s, again) == [] and hand() == want


def test_deconvolution_does_not_depend_on_the_global_random_state():
    """OASIS replaces an AR root it estimates outside (0, 1] by a random draw from numpy's
    global generator (oasis.functions.estimate_time_constant): on short or spiky traces (the
    SIMA movie's 20 frames in a batch) the denoised traces, SNR and verdicts changed from run
    to run, and a serial and a parallel batch disagreed. Each trace now gets the same draw,
    whatever the trace's position and the caller's random state, which is left as it was."""
    from napari_catrack.core.sources.deconv import deconvolve_traces

    rng = np.random.default_rng(1)
    raw = rng.normal(0, 50, (6, 20))
    raw[:, 3] += 2800  # one big transient: the estimated AR root falls outside (0, 1]
    raw[:, 4] += 150
    raw[:, 5] += 800
    np.random.seed(1)  # noqa: NPY002
    before = np.random.get_state()  # noqa: NPY002
    den1, spk1 = deconvolve_traces(raw)
    after = np.random.get_state()  # noqa: NPY002
    np.random.seed(2)  # noqa: NPY002
    den2, spk2 = deconvolve_traces(raw)
    np.testing.assert_array_equal(den1, den2)
    np.testing.assert_array_equal(spk1, spk2)
    den3, _ = deconvolve_traces(raw[::-1])  # a trace's result does not depend on its row
    np.testing.assert_array_equal(den3[::-1], den1)
    assert after[2] == before[2]  # the caller's stream is where it was
    np.testing.assert_array_equal(after[1], before[1])
