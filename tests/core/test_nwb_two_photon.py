"""NWB of a two-photon session (two-photon review 8, TP 5, TP 9, TP 11): the registration as NWB's
MotionCorrection with the masks tied to the registered movie, image axes as NWB (and suite2p)
have them, no duplicate `green` series, traces or masks of another movie refused, and a subject
asked for when there is none."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_catrack.cli import main
from napari_catrack.errors import InputError

from ._session_helpers import NWB_METADATA, inspect_problems, two_photon_session

pytest.importorskip("pynwb")


def _registered(tmp_path):
    """The two-photon test session with a registration step and its registered movie on disk."""
    from napari_catrack.io.tiff import write_movie_tiff

    session, footprints = two_photon_session(tmp_path)
    n, h, w = 60, 20, 24
    movie = np.random.default_rng(2).integers(0, 50, (n, h, w)).astype(np.uint16)
    reg = write_movie_tiff(tmp_path / "movie_registered.tif", movie, fps=10.0)
    shifts = pd.DataFrame({"frame": np.arange(n), "dy": np.linspace(-1, 1, n), "dx": 0.5})
    session.record("registration", tables={"shifts": shifts},
                   attrs={"mode": "rigid", "output": session.stored_path(reg)})  # fmt: skip
    session.save()
    return session, footprints, movie, shifts


def _read(path):
    from pynwb import NWBHDF5IO

    io = NWBHDF5IO(str(path), "r")
    return io, io.read()


@pytest.mark.parametrize("embed", [False, True])
def test_registration_is_written_as_motion_correction(tmp_path, embed):
    from napari_catrack.io.nwb import write_nwb
    from napari_catrack.io.nwb_ophys import read_masks

    session, footprints, movie, shifts = _registered(tmp_path)
    out = tmp_path / "out" / "tp.nwb"
    path = write_nwb(session, out, metadata=NWB_METADATA, embed_imaging=embed)
    assert inspect_problems(path) == []
    io, nwb = _read(path)
    with io:
        ophys = nwb.processing["ophys"]
        stack = ophys["MotionCorrection"].corrected_image_stacks["CorrectedImageStack"]
        assert stack.original is nwb.acquisition["Imaging"]  # linked, not copied
        np.testing.assert_allclose(stack.xy_translation.data[:], shifts[["dy", "dx"]].to_numpy())
        assert "column 0 along rows" in stack.xy_translation.description
        if embed:
            np.testing.assert_array_equal(stack.corrected.data[:], movie)
        else:
            assert list(stack.corrected.external_file[:]) == ["../movie_registered.tif"]
            assert stack.corrected.num_samples == 60
        ps = ophys["ImageSegmentation"]["PlaneSegmentation"]
        assert "registered movie" in ps.description  # which movie the masks belong to
        assert ps.reference_images[0] is stack.corrected
        # NWB's (frame, x, y) with x the first image axis, like suite2p's [Ly, Lx]
        assert list(stack.corrected.dimension[:]) == [20, 24]
        assert list(nwb.acquisition["Imaging"].dimension[:]) == [20, 24]  # was [24, 20]
        assert "pixel_mask" in ps.colnames and "image_mask" not in ps.colnames
        assert read_masks(ps).shape[1:] == (20, 24) == footprints.shape[1:]
        if embed:
            assert nwb.acquisition["Imaging"].data.shape[1:] == (20, 24)


def test_without_the_registered_movie_the_shifts_are_still_written(tmp_path):
    from napari_catrack.io.nwb import write_nwb

    session, _, _, shifts = _registered(tmp_path)
    (tmp_path / "movie_registered.tif").unlink()
    with pytest.warns(UserWarning, match="registered movie is not on disk"):
        path = write_nwb(session, tmp_path / "tp.nwb", metadata=NWB_METADATA)
    io, nwb = _read(path)
    with io:
        ophys = nwb.processing["ophys"]
        assert "MotionCorrection" not in ophys.data_interfaces
        np.testing.assert_allclose(ophys["registration_shifts"].data[:], shifts[["dy", "dx"]])


def test_sources_fluorescence_has_no_duplicate_green(tmp_path):
    from napari_catrack.io.nwb import write_nwb

    session, _ = two_photon_session(tmp_path)
    path = write_nwb(session, tmp_path / "tp.nwb", metadata=NWB_METADATA)
    io, nwb = _read(path)
    with io:
        series = set(nwb.processing["ophys"]["Fluorescence"].roi_response_series)
    assert series == {"raw", "denoised", "deconvolved"}  # as docs/nwb.md lists; was also green


def test_traces_or_masks_of_another_movie_are_refused(tmp_path, capsys):
    from napari_catrack.io.nwb import write_nwb

    session, _ = two_photon_session(tmp_path)
    traces = session["traces"].tables["traces"]
    longer = pd.concat([traces, traces.assign(frame=traces["frame"] + 60)], ignore_index=True)
    session.record("traces", tables={"traces": longer}, attrs=dict(session["traces"].attrs))
    with pytest.raises(InputError, match="traces have 120 frames but its recording has 60"):
        write_nwb(session, tmp_path / "a.nwb", metadata=NWB_METADATA)
    session.record("traces", tables={"traces": traces[traces["frame"] < 50]},
                   attrs=dict(session["traces"].attrs))  # fmt: skip
    with pytest.raises(InputError, match="traces have 50 frames"):  # sources span the movie
        write_nwb(session, tmp_path / "a.nwb", metadata=NWB_METADATA)
    session.record("traces", tables={"traces": traces}, attrs=dict(session["traces"].attrs))
    fp = session["sources"].arrays["footprints"]
    session.record("sources", tables=dict(session["sources"].tables),
                   arrays={"footprints": fp.transpose(0, 2, 1)}, attrs=dict(session["sources"].attrs))  # fmt: skip
    session.save()
    rc = main(["export-nwb", str(session.path), "-o", str(tmp_path / "b.nwb"), "--no-prompt"])
    err = capsys.readouterr().err
    assert rc == 2 and "footprints are 24x20 px but its recording is 20x24 px" in err
    assert "Traceback" not in err and not (tmp_path / "b.nwb").exists()


def test_export_without_a_subject_says_dandi_needs_one(tmp_path, capsys):
    session, _ = two_photon_session(tmp_path)
    out = tmp_path / "x.nwb"
    assert main(["export-nwb", str(session.path), "-o", str(out), "--no-prompt"]) == 0
    err = capsys.readouterr().err
    assert "no subject" in err and "DANDI" in err and "--metadata" in err
    (tmp_path / "meta.yaml").write_text("subject: {subject_id: m1, species: Mus musculus}\n")
    assert main(["export-nwb", str(session.path), "-o", str(out), "--metadata",
                 str(tmp_path / "meta.yaml")]) == 0  # fmt: skip
    assert "no subject" not in capsys.readouterr().err


def test_summary_images_reach_the_nwb_file(tmp_path):
    """User review (h11): the summary images (mean, correlation, ...) the ROIs are drawn over were
    not in the NWB file (suite2p's writer keeps its mean and correlation images)."""
    from napari_catrack.core.summary_records import record_summary
    from napari_catrack.io.nwb import write_nwb

    session, footprints, movie, _ = _registered(tmp_path)

    class Images:  # what record_summary stores: SummaryImages.as_dict()
        def as_dict(self):
            return {"mean": movie.mean(0), "max": movie.max(0).astype(float)}

    record_summary(session, Images(), inputs={"recording": tmp_path / "movie_registered.tif"})
    path = write_nwb(session, tmp_path / "s.nwb", metadata=NWB_METADATA)
    io, nwb = _read(path)
    with io:
        images = nwb.processing["ophys"]["SummaryImages"]
        assert "movie_registered.tif" in images.description
        np.testing.assert_allclose(images["mean"].data[:], movie.mean(0), rtol=1e-6)
        np.testing.assert_array_equal(images["max"].data[:], movie.max(0))
        assert images["mean"].data.shape == footprints.shape[1:]  # [row, column] as image_mask
        assert images["mean"].description == "mean over frames"
