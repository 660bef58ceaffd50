"""Bad input from the command line: one clear `catrack: error:` line, exit 2, nothing written.

Each test is a case that `scripts/bad_input_sweep.py` found giving a traceback, an obscure
message or a changed file; the sweep itself runs every command against the whole battery."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_catrack.cli import EXIT_USER_ERROR, main


def _run(capsys, argv: list[str]) -> tuple[int, str]:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse: a bad option value
        code = exc.code
    return code, capsys.readouterr().err


def _one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ": error: " in ln]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def _worm_movie(t: int = 6) -> np.ndarray:
    """A bright bar on a dim noisy background: a worm the classical segmenter finds."""
    rng = np.random.default_rng(0)
    movie = (20 + 3 * rng.standard_normal((t, 48, 48))).astype(np.float32)
    movie[:, 20:28, 6:42] += 200
    return movie


def test_segment_refuses_nan_pixels_in_one_line(tmp_path, capsys):
    movie = _worm_movie()
    movie[0, :4, :4] = np.nan  # a few NaN pixels on the prompt frame: was an IndexError
    tifffile.imwrite(tmp_path / "nan.tif", movie, metadata={"axes": "TYX"})
    out = tmp_path / "masks.tif"
    argv = ["segment", tmp_path / "nan.tif", "--prompt", "24,20", "--method", "classical"]
    code, err = _run(capsys, [*argv, "-o", out])
    assert code == EXIT_USER_ERROR
    assert "frame 0 contains 16 NaN/infinite pixels" in _one_error_line(err)
    assert not out.exists()


def test_segment_all_nan_prompt_frame_is_blank_and_nan_frames_are_gaps(tmp_path, capsys):
    movie = _worm_movie()
    movie[:] = np.nan
    tifffile.imwrite(tmp_path / "allnan.tif", movie, metadata={"axes": "TYX"})
    argv = ["segment", tmp_path / "allnan.tif", "--prompt", "24,20", "--method", "classical"]
    code, err = _run(capsys, [*argv, "-o", tmp_path / "m.tif"])
    assert code == EXIT_USER_ERROR
    assert "frame 0 is blank" in _one_error_line(err)
    movie = _worm_movie()
    movie[4:] = np.nan  # frames lost at the end: no mask there, the others segmented
    tifffile.imwrite(tmp_path / "gap.tif", movie, metadata={"axes": "TYX"})
    argv = ["segment", tmp_path / "gap.tif", "--prompt", "24,20", "--method", "classical"]
    code, err = _run(capsys, [*argv, "-o", tmp_path / "m.tif"])
    assert code == 0, err
    masks = tifffile.imread(tmp_path / "m.tif")
    assert masks[:4].any(axis=(1, 2)).all() and not masks[4:].any()


@pytest.mark.parametrize("value", ["inf", "-inf", "Infinity"])
def test_step_parameters_refuse_infinity(tmp_path, capsys, value):
    """`--pnr-sigma-px inf` passed the >= 0 bound and ended in int(inf): a traceback."""
    movie = _worm_movie(10)
    tifffile.imwrite(tmp_path / "m.tif", movie, metadata={"axes": "TYX"})
    code, err = _run(
        capsys, ["summary", tmp_path / "m.tif", f"--pnr-sigma-px={value}", "-o", tmp_path / "s"]
    )
    assert code == EXIT_USER_ERROR
    assert "--pnr-sigma-px must be a finite number" in _one_error_line(err)
    assert not (tmp_path / "s").exists()


def test_step_parameters_refuse_infinity_from_a_manifest_or_session():
    from napari_catrack.core.summary import SummaryParams
    from napari_catrack.errors import InputError

    with pytest.raises(InputError, match="must be a finite number"):
        SummaryParams(pnr_sigma_px=float("inf"))
    with pytest.raises(InputError, match="must be a finite number"):
        SummaryParams.from_dict({"pnr_sigma_px": "inf"})
