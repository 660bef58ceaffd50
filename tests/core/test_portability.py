"""Windows and macOS behaviour simulated on Linux: process start methods without fork, a file
held open by another program, non-ASCII paths and a non-UTF-8 locale (docs/installation.md)."""

from __future__ import annotations

import errno
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


def test_centerline_worker_runs_spawned_where_there_is_no_fork_server(monkeypatch):
    """Windows has only "spawn": `get_context("forkserver")` raises ValueError there. The
    segmentation + centerline pipeline's worker process then starts spawned (a fresh interpreter
    that must import everything it runs) and gives exactly the one-after-the-other results."""
    from napari_catrack.core.behaviour import (
        SegmentParams,
        compute_centerlines,
        pipeline,
        segment_video,
    )
    from tests.core._behaviour_helpers import mid_prompt, small_video

    real_get_context = multiprocessing.get_context
    used: list[str | None] = []

    def windows_get_context(method=None):
        used.append(method)
        if method in ("fork", "forkserver"):
            raise ValueError(f"cannot find context for {method!r}")
        return real_get_context(method)

    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    monkeypatch.setattr(multiprocessing, "get_context", windows_get_context)
    v = small_video(n_frames=40)  # more than one chunk of 32 frames
    params = SegmentParams(method="classical")
    seg, cl = pipeline.segment_and_centerline(v.frames, mid_prompt(v), params, processes=1)
    assert used == ["spawn"]
    ref_seg = segment_video(v.frames, mid_prompt(v), params)
    ref = compute_centerlines(ref_seg.masks)
    np.testing.assert_array_equal(seg.masks, ref_seg.masks)
    np.testing.assert_array_equal(cl.points, ref.points)
    np.testing.assert_array_equal(cl.status, ref.status)


# ------------------------------------------------- Windows: a file open in another program
WINDOWS_HELD = "The process cannot access the file because it is being used by another process"


def _hold_open(monkeypatch, *held: Path, times: int | None = None) -> list[Path]:
    """Make `os.replace` onto (or away from) a path in `held` fail as Windows does while another
    program has that file open (Excel showing a CSV): PermissionError (WinError 32), always or
    the first `times` times. Returns the list of refused targets."""
    real = os.replace
    refused: list[Path] = []

    def replace(src, dst):
        if (Path(dst) in held or Path(src) in held) and (times is None or len(refused) < times):
            refused.append(Path(dst))
            raise PermissionError(errno.EACCES, WINDOWS_HELD, str(src), None, str(dst))
        return real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    return refused


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_a_file_held_open_elsewhere_is_one_clear_line_and_keeps_the_old_file(tmp_path, monkeypatch):
    from napari_catrack.errors import InputError
    from napari_catrack.io.atomic import write_text_atomic

    path = write_text_atomic(tmp_path / "cells.csv", "old\n")
    _hold_open(monkeypatch, path)
    with pytest.raises(InputError) as info:
        write_text_atomic(path, "new\n")
    line = str(info.value)
    assert "\n" not in line and str(path) in line
    assert "open in another program" in line and "close it there" in line
    assert "left as it was" in line
    assert path.read_text(encoding="utf-8") == "old\n" and _leftovers(tmp_path) == []


def test_a_set_with_one_file_held_open_elsewhere_replaces_none(tmp_path, monkeypatch):
    """`atomic_write_set`: the second file is held open, so the first, already moved into place,
    is taken back: both older files stay, and no `.old`/`.partial` file is left."""
    from napari_catrack.errors import InputError
    from napari_catrack.io.atomic import atomic_write_set, write_text_atomic

    a = write_text_atomic(tmp_path / "a.csv", "old a\n")
    b = write_text_atomic(tmp_path / "b.csv", "old b\n")
    _hold_open(monkeypatch, b)
    with pytest.raises(InputError, match="b.csv.*open in another program.*none of the files"):
        with atomic_write_set():
            write_text_atomic(a, "new a\n")
            write_text_atomic(b, "new b\n")
    assert a.read_text(encoding="utf-8") == "old a\n" and b.read_text(encoding="utf-8") == "old b\n"
    assert _leftovers(tmp_path) == []


def test_a_replace_refused_for_a_moment_is_retried_on_windows(tmp_path, monkeypatch):
    """An antivirus or the search indexer opens a new file for a moment: the replace is tried
    again (Windows only) instead of failing the write."""
    from napari_catrack.io import atomic

    path = atomic.write_text_atomic(tmp_path / "summary.json", "{}")
    refused = _hold_open(monkeypatch, path, times=3)
    monkeypatch.setattr(atomic, "WINDOWS", True)
    atomic.write_text_atomic(path, '{"n": 1}')
    assert len(refused) == 3 and path.read_text(encoding="utf-8") == '{"n": 1}'
    assert _leftovers(tmp_path) == []


def test_a_session_held_open_elsewhere_autosaves_beside_it(tmp_path, monkeypatch):
    """Windows cannot replace a session file that HDFView or a notebook holds open (even to
    read): the autosave goes to the next free name beside it and says so, as for a file changed
    by another writer; the held file is left as it was."""
    from napari_catrack.session import Session, SessionFileChanged

    path = tmp_path / "movie.catrack.h5"
    Session(path).record("alignment", attrs={"dy": 1.0})
    s = Session.load(path)
    _hold_open(monkeypatch, path)
    with pytest.warns(SessionFileChanged, match=r"movie\.catrack\.h5 is open in another.*movie-2"):
        s.record("settings", attrs={"fps": 5.0})
    monkeypatch.undo()
    assert set(Session.load(path).steps) == {"alignment"}
    assert set(Session.load(tmp_path / "movie-2.catrack.h5").steps) == {"alignment", "settings"}
    assert s.path == tmp_path / "movie-2.catrack.h5"
    # it records what it was saved beside and why, as a save beside a changed file does
    # (`catrack info`, and the refusal naming both files, say it)
    branched = Session.read_provenance(tmp_path / "movie-2.catrack.h5")["branched_from"]
    assert branched["file"] == "movie.catrack.h5"
    assert branched["reason"].startswith("is open in another program")


def test_a_session_saved_beside_a_held_file_records_what_it_branched_from(tmp_path, monkeypatch):
    """The autosave beside a session file held open elsewhere (Windows) is a `-2` file like one
    saved beside a file changed on disk, but it recorded no `branched_from` (the changed-on-disk
    cases did): `catrack info` and the refusal of a command given the recording alone could not
    say why it exists or what it was saved beside."""
    from napari_catrack.recording_session import _describe
    from napari_catrack.session import Session, SessionFileChanged

    path = tmp_path / "movie.catrack.h5"
    Session(path).record("alignment", attrs={"dy": 1.0})
    s = Session.load(path)
    _hold_open(monkeypatch, path)
    with pytest.warns(SessionFileChanged):
        s.record("settings", attrs={"fps": 5.0})
    monkeypatch.undo()
    beside = tmp_path / "movie-2.catrack.h5"
    branched = Session.load(beside).branched_from
    assert branched is not None and branched["file"] == "movie.catrack.h5"
    assert branched["reason"].startswith("is open in another program")
    assert "saved beside movie.catrack.h5" in _describe(beside)


# ------------------------------------------------- paths with spaces, accents and CJK
def test_the_main_commands_take_a_folder_with_spaces_accents_and_chinese(tmp_path, capsys):
    """A session in `dé mo 中/Wurm ä 1`: traces, transients, export and export-nwb read and write
    there, the NWB file links the recording by a path that resolves, and names with accents in
    the metadata come back as written (HDF5 paths and attributes as UTF-8)."""
    from pynwb import NWBHDF5IO

    from napari_catrack.cli import main
    from tests.core._session_helpers import worm_session

    folder = tmp_path / "dé mo 中" / "Wurm ä 1"
    session, _ = worm_session(folder, video=False)
    tracks = folder / "pistes é.csv"
    session["tracks"].tables["tracks"].to_csv(tracks, index=False)
    traces, transients = folder / "traces 中.csv", folder / "transients é.csv"
    # (the helper's movie is uniform noise without a red neuron: the red noise floor rightly
    # marks nearly every ratio sample, so it is off here, where the paths are what is tested)
    assert main(["traces", str(folder / "rec.tif"), "--tracks", str(tracks), "--no-align",
                 "--red-noise-floor", "0", "-o", str(traces)]) == 0  # fmt: skip
    assert (
        main(["transients", str(traces), "-o", str(transients), "--method", "rules", "--fps", "10"])
        == 0
    )
    assert pd.read_csv(transients)["neuron_id"].nunique() > 0
    export = folder / "export é 中"
    assert main(["export", str(session.path), "-o", str(export), "--items", "traces"]) == 0
    assert (export / "traces.csv").is_file()
    meta = folder / "méta 中.yaml"
    meta.write_text(
        "session_start_time: 2024-05-01T10:00:00+00:00\n"
        "experimenter: [Müller, Zoë]\n"
        "subject: {subject_id: wurm-ä, species: Caenorhabditis elegans, description: 中文}\n",
        encoding="utf-8",
    )
    nwb = folder / "séance 中.nwb"
    assert main(["export-nwb", str(session.path), "-o", str(nwb), "--metadata", str(meta)]) == 0
    with NWBHDF5IO(str(nwb), "r") as io:
        f = io.read()
        assert f.experimenter == ("Müller", "Zoë")
        assert f.subject.subject_id == "wurm-ä" and f.subject.description == "中文"
        linked = [s.external_file[0] for s in f.acquisition.values() if s.external_file]
    assert linked and all((nwb.parent / p).is_file() for p in linked)
    capsys.readouterr()


def test_a_name_close_to_the_255_limit_can_be_written_and_replaced(tmp_path):
    """The temp file (`.NAME.xxxxxxxx.partial`) and a set's backup (`.NAME.xxxxxxxx.old`) are
    longer than NAME: a 240-byte name (80 Chinese characters on Linux) could not be written."""
    from napari_catrack.io.atomic import atomic_write_set, write_text_atomic

    for name in ("a" * 236 + ".csv", "中" * 80 + ".csv"):
        path = tmp_path / name
        write_text_atomic(path, "first\n")
        with atomic_write_set():
            write_text_atomic(path, "second\n")
        write_text_atomic(path, "third\n")
        assert path.read_text(encoding="utf-8") == "third\n"
    assert _leftovers(tmp_path) == []


# ------------------------------------------------- text encodings (Windows: cp1252 by default)
def _run_without_utf8(code: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """`code` in a Python whose locale encoding is ASCII (LC_ALL=C, no UTF-8 mode, no locale
    coercion): every text file opened without `encoding=` then fails on é or 中, as it does on
    Windows with cp1252 for 中."""
    full = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"}
    full["PYTHONPATH"] = os.pathsep.join([str(SRC), str(SRC.parent)])
    full.update(env)
    script = cwd / "snippet.py"  # a source file is UTF-8 whatever the locale; argv is not
    script.write_text(code, encoding="utf-8")
    done = subprocess.run([sys.executable, "-X", "utf8=0", str(script)], cwd=cwd, env=full,
                          capture_output=True, timeout=300)  # fmt: skip
    script.unlink()
    return done


SRC = Path(__file__).resolve().parents[2] / "src"


def test_text_files_are_written_and_read_as_utf8_whatever_the_locale(tmp_path):
    code = """
import json, locale, pandas as pd
from napari_catrack.io.atomic import write_text_atomic
from napari_catrack.io.tables import read_table, write_table
from napari_catrack.core.rigid import AlignmentTransform
assert locale.getpreferredencoding(False) != "UTF-8", locale.getpreferredencoding(False)
write_text_atomic("notes.yaml", "experimenter: Zoë Müller 中文\\n")
write_table(pd.DataFrame({"neuron_id": ["AVAL-é", "中1"], "note": ["Zoë", "中文"]}), "cells.csv")
print(ascii(list(read_table("cells.csv", ("neuron_id",))["note"])))
with open("align.json", "w", encoding="utf-8-sig") as fh:  # Notepad's UTF-8 (with a BOM)
    json.dump({"dy": 1.5, "dx": -2.0, "rotation_deg": 0.5, "note": "Zoë 中"}, fh, ensure_ascii=False)
print(AlignmentTransform.load_json("align.json").dy)
"""
    done = _run_without_utf8(code, tmp_path)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-800:]
    assert (tmp_path / "notes.yaml").read_text(
        encoding="utf-8"
    ) == "experimenter: Zoë Müller 中文\n"
    assert pd.read_csv(tmp_path / "cells.csv", encoding="utf-8")["note"].tolist() == ["Zoë", "中文"]
    assert done.stdout.decode().split() == ["['Zo\\xeb',", "'\\u4e2d\\u6587']", "1.5"]


def test_a_finished_command_prints_a_chinese_path_to_a_redirected_stdout(tmp_path):
    """Windows writes a redirected stdout (`catrack ... > log.txt`) in cp1252: the last line, the
    output's path with 中, raised UnicodeEncodeError after the output was written (exit 1)."""
    folder = tmp_path / "数据"
    folder.mkdir()
    t = np.arange(200)
    dff = [np.where((t >= s) & (t < s + 20), np.exp(-(t - s) / 6.0), 0.0) for s in (40, 120)]
    rows = [(n, f, 0.05 * np.sin(f) + d[f]) for n, d in enumerate(dff) for f in t]
    pd.DataFrame(rows, columns=["neuron_id", "frame", "dff"]).to_csv(folder / "t.csv", index=False)
    out = folder / "瞬变.csv"
    code = "from napari_catrack.cli import console_main; console_main()"
    args = ["transients", "t.csv", "--fps", "10", "--method", "rules", "-o", str(out)]
    code = f"import sys; sys.argv = ['catrack', *{args!r}]; {code}"
    done = _run_without_utf8(code, folder, LC_ALL="C.UTF-8", PYTHONIOENCODING="cp1252")
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-800:]
    assert out.is_file() and "\\u77ac\\u53d8.csv" in done.stdout.decode("cp1252")


def test_a_settings_file_that_is_not_utf8_is_said_to_be_not_utf8(tmp_path):
    """A YAML manifest in cp1252 (é: one byte 0xe9) is refused in one line, never guessed: keys
    and paths would change silently. (Tables in cp1252 are read, with a note:
    tests/core/test_table_encodings.py.)"""
    from napari_catrack.batch.manifest import read_manifest
    from napari_catrack.errors import InputError

    manifest = tmp_path / "manifest.yaml"
    manifest.write_bytes("recordings:\n  - path: Müller.tif\n".encode("cp1252"))
    with pytest.raises(InputError) as info:
        read_manifest(manifest)
    line = str(info.value)
    assert line.startswith(f"the manifest {manifest} is not UTF-8 text (byte 0x"), line
    assert "\n" not in line and "save it as UTF-8" in line


# ------------------------------------------------- names that Windows and macOS read otherwise
def test_batch_names_that_would_share_a_folder_on_windows_or_macos_are_told_apart():
    """Windows and macOS compare names without case: `Rec1` and `rec1` were two recordings on
    Linux and one folder (the second overwriting the first's results) there. Folded only for an
    output folder that does not tell case apart (`fold_case`; tests/core/test_batch_names.py)."""
    from napari_catrack.batch.manifest import default_names
    from napari_catrack.errors import InputError

    assert default_names(["a/Rec1.tif", "b/rec1.tif"], fold_case=True) == ["a_Rec1", "b_rec1"]
    assert default_names(["a/Rec1.tif", "b/rec1.tif"]) == ["Rec1", "rec1"]  # Linux: two names
    assert default_names(["x/A.tif", "y/a.tif"], ["one", None], fold_case=True) == ["one", "y_a"]
    assert default_names(["p.tif", "q.tif"], ["mouse", "MOUSE-2"]) == ["mouse", "MOUSE-2"]
    with pytest.raises(InputError, match=r"used twice.*case aside.*S1, s1"):
        default_names(["p.tif", "q.tif"], ["s1", "S1"], fold_case=True)
    for name, why in (("12:30", "':'"), ("CON", "device name"), ("trial.", "ends in a dot")):
        with pytest.raises(InputError, match=f"{name!r} cannot be a folder name: .*{why}"):
            default_names(["p.tif"], [name])
    # a name taken from the file (con.tif: a control) says how to give it another: on Linux
    # it was a folder name until h15, so the refusal must say what to do
    with pytest.raises(InputError, match=r"'con' cannot be .*device name.*another `name:`"):
        default_names(["day1/con.tif"])


def test_names_from_data_become_file_names_windows_accepts():
    from napari_catrack.text import file_name_part, unfit_file_name

    assert file_name_part("AVA:L/2") == "AVA_L_2" and file_name_part("nul") == "_nul"
    assert file_name_part("cell 5.") == "cell 5_" and file_name_part("中文 é") == "中文 é"
    for name in ("AVA:L/2", "nul", "cell 5.", "a?b", "tab\there", ""):
        assert unfit_file_name(name) is not None
        assert unfit_file_name(file_name_part(name) or "x") is None


def test_sessions_are_written_without_pread_and_pwrite(tmp_path, monkeypatch):
    """Windows' os has no pread/pwrite: the HDF5 writer (`io.h5write`) then seeks and reads or
    writes; a session saved and re-saved (arrays copied from the previous file) reads back."""
    from napari_catrack.session import Session

    monkeypatch.delattr(os, "pread")
    monkeypatch.delattr(os, "pwrite")
    masks = np.random.default_rng(0).random((20, 64, 64)) > 0.5
    path = tmp_path / "w.catrack.h5"
    s = Session(path)
    s.record("segmentation", arrays={"masks": masks}, attrs={"note": "Zoë 中"})
    s.record("settings", attrs={"fps": 5.0})  # a second save: copies the masks from the first
    back = Session.load(path)
    np.testing.assert_array_equal(back["segmentation"].arrays["masks"], masks)
    assert back["segmentation"].attrs["note"] == "Zoë 中" and back["settings"].attrs["fps"] == 5.0


def test_a_read_only_file_says_how_to_make_it_writable_on_windows(tmp_path, monkeypatch):
    """Windows has no chmod: the Read-only box of the file's Properties is what users know."""
    from napari_catrack.errors import InputError
    from napari_catrack.io import atomic

    path = atomic.write_text_atomic(tmp_path / "cells.csv", "old\n")
    path.chmod(0o444)
    monkeypatch.setattr(atomic, "WINDOWS", True)
    with pytest.raises(InputError, match=r"read-only.*Properties: untick Read-only"):
        atomic.write_text_atomic(path, "new\n")
    monkeypatch.setattr(atomic, "WINDOWS", False)
    with pytest.raises(InputError, match=r"read-only.*chmod u\+w"):
        atomic.write_text_atomic(path, "new\n")
    assert path.read_text(encoding="utf-8") == "old\n"


def test_a_session_made_on_windows_finds_its_recording_on_a_mac(tmp_path):
    """The recording beside the session is stored relative to it: with '/' now; a session saved
    on Windows by the earlier code holds `sub\\rec.tif`, a file name with a backslash on macOS
    and Linux: read back as `sub/rec.tif` when only that exists."""
    import json

    import h5py

    from napari_catrack.session import Session

    (tmp_path / "sub").mkdir()
    rec = tmp_path / "sub" / "rec.tif"
    rec.write_bytes(b"not read here")
    path = tmp_path / "w.catrack.h5"
    s = Session(path, autosave=False)
    s.set_recording(str(rec), {}, {})
    s.save()
    with h5py.File(path, "r") as f:
        stored = json.loads(f.attrs["recording"])
    assert stored["path"] == "sub/rec.tif"
    with h5py.File(path, "r+") as f:  # as Windows wrote it before
        f.attrs["recording"] = json.dumps({**stored, "path": "sub\\rec.tif"})
    assert Session.load(path).recording["path"] == str(rec)


def test_nwb_external_files_are_linked_with_forward_slashes_as_windows_would(tmp_path, monkeypatch):
    """NWB readers on macOS and Linux (DANDI) resolve `external_file` with '/': on Windows
    `os.path.relpath` gives `sub\\rec.tif` (imitated here with ntpath)."""
    import ntpath
    import types

    from napari_catrack.io import nwb_common

    monkeypatch.setattr(nwb_common, "os", types.SimpleNamespace(path=ntpath, sep="\\"))
    linked = nwb_common.relative_to(str(tmp_path / "sub" / "rec.tif"), tmp_path / "x.nwb")
    assert linked == "sub/rec.tif"


def test_a_batch_script_without_a_main_guard_is_told_to_add_one(tmp_path):
    """dask starts the batch's workers by `spawn` (every system; Windows and macOS start every
    process so): each imports the user's script again, and an unguarded `run_batch` call ended
    in 470 lines of tracebacks and "RuntimeError: Nanny failed to start."."""
    from napari_catrack.synthetic.batch import write_batch_folder

    write_batch_folder(tmp_path / "data", 1, n_frames=20, shape=(48, 48), n_neurons=2,
                       steps=("track",), extra={"no_align": True})  # fmt: skip
    script = tmp_path / "my batch.py"
    script.write_text(
        "from napari_catrack.batch.manifest import read_manifest\n"
        "from napari_catrack.batch.runner import run_batch\n"
        "run_batch(read_manifest('data/manifest.yaml'), 'out', workers=1)\n",
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    last = done.stderr.strip().splitlines()[-1]
    assert done.returncode != 0
    assert last.startswith("napari_catrack.errors.InputError: the batch's worker processes")
    assert 'my batch.py runs the batch outside `if __name__ == "__main__":`' in last
    assert "bootstrapping" not in done.stderr
    assert not (tmp_path / "out" / "report.csv").exists()


def test_every_text_file_the_package_opens_names_its_encoding():
    """Windows opens text in the ANSI code page unless told: `open(...)` in text mode, and
    `Path.read_text`/`write_text` on any path (ruff's PLW1514 sees only `Path(...).read_text`),
    name their encoding in src/."""
    import re
    import shutil

    calls = re.compile(r"\.(read_text|write_text)\(")
    missing = []
    for path in sorted((SRC / "napari_catrack").rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            if calls.search(line) and "encoding=" not in " ".join(lines[i : i + 3]):
                missing.append(f"{path.relative_to(SRC)}:{i + 1}: {line.strip()}")
    assert not missing, "\n".join(missing)
    ruff = shutil.which("ruff")
    if ruff is None:
        return
    done = subprocess.run([ruff, "check", "--preview", "--select", "PLW1514", "--no-cache",
                           "--output-format", "concise", str(SRC)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stdout
