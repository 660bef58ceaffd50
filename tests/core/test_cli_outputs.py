"""What every `catrack` command shares: outputs never overwrite an input (`check_outputs`),
Python warnings are one line, and a closed pipe ends a command quietly."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from napari_catrack.cli import main
from napari_catrack.commands._common import OutputFolder, check_outputs, recording_inputs
from napari_catrack.errors import InputError, warnings_as_lines

SRC = Path(__file__).resolve().parents[2] / "src"


def test_an_output_may_not_be_an_input_whatever_its_name(tmp_path):
    movie = tmp_path / "m.tif"
    movie.write_bytes(b"movie")
    (tmp_path / "sub").mkdir()
    for name in (movie, tmp_path / "sub" / ".." / "m.tif", str(movie)):
        with pytest.raises(InputError, match=r"--shifts .*m\.tif would overwrite the input REC"):
            check_outputs({"-o": tmp_path / "r.tif", "--shifts": name}, {"REC": movie})
    os.link(movie, tmp_path / "hard.tif")
    os.symlink(movie, tmp_path / "soft.tif")
    for other in ("hard.tif", "soft.tif"):
        with pytest.raises(InputError, match="would overwrite the input REC"):
            check_outputs({"-o": tmp_path / other}, {"REC": movie})
    assert movie.read_bytes() == b"movie"


def test_two_outputs_may_not_be_one_file(tmp_path):
    with pytest.raises(
        InputError, match=r"-o .*r3\.tif and --shifts .*r3\.tif would write the same"
    ):
        check_outputs({"-o": tmp_path / "r3.tif", "--shifts": tmp_path / "r3.tif"}, {})
    figures = OutputFolder(tmp_path / "figs", ("a.svg",))
    with pytest.raises(InputError, match="is also the output folder --figures"):
        check_outputs({"-o": tmp_path / "figs", "--figures": figures}, {})
    with pytest.raises(InputError, match="would write the same file"):
        check_outputs({"-o": tmp_path / "figs" / "a.svg", "--figures": figures}, {})


def test_output_folders(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mean.tif").write_bytes(b"the user's movie")
    folder = OutputFolder(tmp_path / "out", ("mean.tif", "max.tif"))
    with pytest.raises(InputError, match=r"-o .*out would write mean\.tif over the input REC"):
        check_outputs({"-o": folder}, {"REC": tmp_path / "out" / "mean.tif"})
    check_outputs({"-o": folder}, {"REC": tmp_path / "movie.tif"})  # its own files: rewritten
    with pytest.raises(InputError, match=r"bad_sum\.tif is named like a file.*such as .*bad_sum"):
        check_outputs({"-o": OutputFolder(tmp_path / "bad_sum.tif", ("mean.tif",))}, {})
    (tmp_path / "x.csv").write_text("a\n")
    with pytest.raises(InputError, match=r"x\.csv is a file; give a folder"):
        check_outputs({"-o": OutputFolder(tmp_path / "x.csv")}, {})
    (tmp_path / "old.tif").mkdir()  # a folder the user already has: used as it is
    check_outputs({"-o": OutputFolder(tmp_path / "old.tif", ("mean.tif",))}, {})
    owned = OutputFolder(tmp_path / "out", owned=True)  # a batch recording's folder
    with pytest.raises(InputError, match="is an output folder, but it holds the input seeds"):
        check_outputs({"-o": owned}, {"seeds": tmp_path / "out" / "seeds.csv"})
    assert not (tmp_path / "bad_sum.tif").exists()


def test_a_tiff_folder_or_glob_stands_for_its_files(tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        (frames / f"f{i}.tif").write_bytes(b"frame")
    for rec in (frames, str(frames / "f*.tif")):
        with pytest.raises(InputError, match=r"f1\.tif would overwrite the input REC"):
            check_outputs({"-o": frames / "f1.tif"}, {"REC": rec})
    check_outputs({"-o": frames / "registered.csv"}, {"REC": frames})  # not read as a frame
    check_outputs({"-o": tmp_path / "registered.tif"}, {"REC": frames})  # beside the folder


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_an_output_tiff_may_not_join_a_tiff_folder_recording(tmp_path, capsys):
    """A TIFF written into a folder (or glob) of TIFFs read as one recording would be one more
    frame file: even the first run, when the output does not exist yet, is refused, and the
    folder is left as it was."""
    import numpy as np
    import tifffile

    frames = tmp_path / "rec"
    frames.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        tifffile.imwrite(frames / f"f{i}.tif", rng.integers(0, 999, (16, 16), dtype=np.uint16))
    before = _snapshot(frames)
    for rec, out in [(frames, frames / "registered.tif"), (frames, frames / "REG.TIFF"),
                     (str(frames / "f*.tif"), frames / "f_registered.tif"),
                     (frames, frames / "sub" / ".." / "registered.btf")]:  # fmt: skip
        code = main(["register", str(rec), "-o", str(out), "--shifts", str(tmp_path / "s.csv")])
        assert code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("catrack: error: -o ")
        assert f"would put the TIFF file {out.name} into the input REC" in err[0]
        assert _snapshot(frames) == before and not (tmp_path / "s.csv").exists()
    # an artefact of an output folder, and the folder itself
    with pytest.raises(InputError, match=r"-o \S+ would put the TIFF file mean\.tif into"):
        check_outputs({"-o": OutputFolder(tmp_path, ("rec/mean.tif",))}, {"REC": frames})
    with pytest.raises(InputError, match=r"-o .*rec is the input REC, a folder whose frame files"):
        check_outputs({"-o": OutputFolder(frames, ("summary.csv",))}, {"REC": frames})
    # a glob that would not list the output, and a folder of no TIFFs, are not concerned
    check_outputs({"-o": frames / "g_registered.tif"}, {"REC": str(frames / "f*.tif")})
    other = tmp_path / "suite2p"
    other.mkdir()
    check_outputs({"-o": OutputFolder(other, ("mean.tif",))}, {"IN": other})
    assert _snapshot(frames) == before


def test_warnings_are_one_line(monkeypatch, capsys):
    with warnings_as_lines("catrack x"):
        warnings.warn("red intensity too low in 32 samples", RuntimeWarning, stacklevel=1)
    assert capsys.readouterr().err == "catrack x: warning: red intensity too low in 32 samples\n"
    from napari_catrack.commands import info

    def noisy(args):
        warnings.warn("something odd", RuntimeWarning, stacklevel=1)
        return 0

    monkeypatch.setattr(info, "run", noisy)
    assert main(["info", "whatever.tif"]) == 0
    assert capsys.readouterr().err == "catrack info: warning: something odd\n"


def test_a_closed_pipe_ends_quietly(tmp_path):
    code = (
        "import sys; from napari_catrack.cli import main\n"
        "from napari_catrack.commands import info\n"
        "info.run = lambda args: print('row\\n' * 100000) or 0\n"
        "sys.exit(main(['info', 'x.tif']))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)  # fmt: skip
    proc.stdout.readline()
    proc.stdout.close()  # like `| head -1`
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 141
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


def test_a_recordings_session_file_is_an_input(tmp_path, capsys):
    """`align rec.tif -o rec.catrack.h5` would replace the user's session (accepted alignment,
    cached estimate) beside the recording: refused before anything runs, file there or not."""
    movie = tmp_path / "rec.tif"
    movie.write_bytes(b"movie")
    session = tmp_path / "rec.catrack.h5"
    for args in (["align", movie], ["track", movie, "--seeds", movie], ["detect", movie],
                 ["traces", movie, "--tracks", movie]):  # fmt: skip
        assert main([*map(str, args), "-o", str(session)]) == 2
        assert "would overwrite the input session file of REC" in capsys.readouterr().err
    session.write_bytes(b"the user's session")
    with pytest.raises(InputError, match="session file of REC"):
        check_outputs({"-o": session}, recording_inputs(movie))
    assert session.read_bytes() == b"the user's session"


def _small_movie(path: Path) -> Path:
    import numpy as np
    import tifffile

    tifffile.imwrite(path, np.random.default_rng(0).integers(0, 999, (20, 16, 16), np.uint16))
    return path


def test_tilde_after_an_equals_sign_is_the_home_folder(tmp_path, monkeypatch, capsys):
    """A shell expands `~` only at the start of a word: `--output=~/sum` (and a quoted "~/x")
    came through as is and made a folder named `~` in the working folder."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir(), work.mkdir()
    movie = _small_movie(home / "m.tif")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    code = main(["summary", "~/m.tif", "--output=~/sum", "--session=~/s.catrack.h5"])
    assert code == 0, capsys.readouterr().err
    assert (home / "sum" / "mean.tif").is_file() and (home / "s.catrack.h5").is_file()
    assert not (work / "~").exists() and movie.is_file()


def test_a_read_only_result_is_left_as_it_is(tmp_path, capsys):
    """A result the user made read-only (chmod a-w) was replaced all the same: the atomic write
    renames over it, which needs only the folder's permission. Now: one line, before any work,
    and the file (and the other files of the set) untouched."""
    movie = _small_movie(tmp_path / "m.tif")
    out = tmp_path / "out"
    out.mkdir()
    kept = out / "mean.tif"
    kept.write_bytes(b"the user's protected result")
    kept.chmod(0o444)
    before = kept.stat()
    code = main(["summary", str(movie), "-o", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "mean.tif" in err[0] and "read-only, so it is left as it is" in err[0]
    after = kept.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert kept.read_bytes() == b"the user's protected result"
    assert sorted(p.name for p in out.iterdir()) == ["mean.tif"]  # nothing half-written


def test_atomic_write_refuses_a_read_only_file(tmp_path):
    from napari_catrack.io.atomic import write_text_atomic

    target = tmp_path / "a.json"
    target.write_text("old")
    target.chmod(0o444)
    with pytest.raises(InputError, match=r"a\.json: the file is read-only"):
        write_text_atomic(target, "new")
    assert target.read_text() == "old" and sorted(os.listdir(tmp_path)) == ["a.json"]
    target.chmod(0o644)
    write_text_atomic(target, "new")
    assert target.read_text() == "new"


def test_a_path_too_long_for_the_file_system_is_one_line(tmp_path, capsys):
    """ENAMETOOLONG (a name over 255 bytes) came out of `Path.exists` deep in a check as a
    traceback; now one line, from the CLI and from the functions the widgets call."""
    from napari_catrack.io.recording import open_recording

    movie = _small_movie(tmp_path / "m.tif")
    long = tmp_path / ("x" * 300)
    for argv in (["info", f"{long}.tif"], ["summary", str(movie), "-o", str(long)],
                 ["summary", str(movie), "-o", str(tmp_path / "s"), "--session", f"{long}.h5"]):  # fmt: skip
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("catrack: error: path too long"), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tif"]  # nothing written
    with pytest.raises(InputError, match="path too long for the file system"):
        open_recording(f"{long}.tif")
    with pytest.raises(InputError, match="path too long for the file system"):
        check_outputs({"-o": OutputFolder(long, ("mean.tif",))}, {})


def test_tifffile_log_records_become_warning_lines_once_per_message(capsys):
    """tifffile logs (not warns) odd metadata once per file of a folder, in its own format:
    a command shows each message once as our warning line, then how many files repeated it."""
    import logging

    log = logging.getLogger("tifffile")
    with warnings_as_lines("catrack info"):
        for name in ("0.tif", "1.tif", "0.tif", "2.tif"):
            log.warning(f"<tifffile.TiffFile {name!r}> ImageJ series metadata invalid")
        log.warning("<tifffile.TiffFile '3.tif'> another oddity")
        log.info("<tifffile.TiffFile '4.tif'> only information")
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "catrack info: warning: 0.tif: ImageJ series metadata invalid (tifffile): its ImageJ "
        "header does not describe the images in the file (e.g. one frame saved with its stack's "
        "header); the TIFF pages were read as they are",
        "catrack info: warning: 3.tif: another oddity (tifffile)",
        "catrack info: warning: the same for 2 more file(s): 1.tif, 2.tif "
        "(ImageJ series metadata invalid)",
    ]
    assert log.propagate and not [h for h in log.handlers if "LibraryLog" in type(h).__name__]


def test_a_real_folder_with_odd_imagej_headers_gives_two_warning_lines(capsys):
    from tests.conftest import shared_data

    folder = shared_data("sima", "example-tiffs")
    assert main(["info", str(folder)]) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert err and all(line.startswith("catrack info: warning: ") for line in err)
    assert len(err) == 2 and "ImageJ series metadata" in err[0]


def test_tifffiles_imagej_header_note_says_what_it_means_for_the_frames(capsys):
    """SIMA's example-tiffs: each one-frame file keeps its stack's ImageJ header (`images=3500`),
    and every command began with tifffile's "ImageJ series metadata invalid or corrupted file":
    a new user reads that the data are damaged, while the frames are read as they are."""
    from tests.conftest import shared_data

    folder = shared_data("sima", "example-tiffs")
    assert main(["info", str(folder)]) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 2
    assert err[0].startswith("catrack info: warning: 0.tif: ImageJ series metadata invalid")
    assert err[0].endswith(
        "(tifffile): its ImageJ header does not describe the images in the file (e.g. one "
        "frame saved with its stack's header); the TIFF pages were read as they are"
    )
    assert err[1].startswith("catrack info: warning: the same for 2 more file(s): 1.tif, 2.tif")
