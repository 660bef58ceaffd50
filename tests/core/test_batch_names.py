"""Batch folder names and case: `Worm1.tif` and `worm1.tif` are two recordings on Linux and keep
the folders an earlier run gave them (`Worm1/`, `worm1/`: names compared without case renamed
them `data_Worm1/`, `data_worm1-2/`, so a re-run recomputed both beside the old results); an
output folder that does not tell case apart (probed) still gets two distinct names; and a
folder whose results belong to another input is never resumed for this one (docs/batch.md)."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import yaml

from napari_catrack.batch import manifest as manifest_module
from napari_catrack.batch.manifest import case_insensitive, read_manifest
from napari_catrack.batch.recording import INPUT_MARK, folder_owner, run_recording
from napari_catrack.batch.runner import check_batch_output
from napari_catrack.cli import main
from napari_catrack.errors import InputError
from napari_catrack.synthetic.batch import write_batch_folder


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """`data/Worm1.tif` and `data/worm1.tif` (two synthetic movies), seeds, a manifest."""
    folder = tmp_path_factory.mktemp("data")
    write_batch_folder(folder, 2, n_frames=12, shape=(48, 48), n_neurons=3, steps=("track",),
                       extra={"no_align": True})  # fmt: skip
    (folder / "rec00.tif").rename(folder / "Worm1.tif")
    (folder / "rec01.tif").rename(folder / "worm1.tif")
    if case_insensitive(folder):
        pytest.skip("this test's folder does not tell case apart")
    recordings = [
        {"path": "Worm1.tif", "seeds": "seeds00.csv"},
        {"path": "worm1.tif", "seeds": "seeds01.csv"},
    ]
    text = yaml.safe_dump({"defaults": {"steps": ["track"], "fps": 10.0, "no_align": True},
                           "recordings": recordings})  # fmt: skip
    (folder / "manifest.yaml").write_text(text, encoding="utf-8")
    return folder


def test_the_case_probe_answers_for_a_folder_not_made_yet_and_leaves_nothing(tmp_path):
    before = sorted(tmp_path.iterdir())
    assert case_insensitive(tmp_path / "results" / "day1") is False  # Linux tmp: sensitive
    assert sorted(tmp_path.iterdir()) == before and not (tmp_path / "results").exists()


def _refuse_writes_in(folder, monkeypatch) -> list[str]:
    """`folder` read-only, also for root (who ignores chmod): a file or folder made directly in
    it is a PermissionError; returns the attempts."""
    import os
    import tempfile

    tried: list[str] = []

    def guard(path) -> None:
        if os.path.dirname(os.path.abspath(path)) == str(folder):
            tried.append(str(path))
            raise PermissionError(13, "Read-only folder", str(path))

    real_mkstemp, real_open, real_mkdir = tempfile.mkstemp, os.open, os.mkdir

    def mkstemp(suffix=None, prefix=None, dir=None, text=False):
        guard(os.path.join(dir or tempfile.gettempdir(), (prefix or "") + "x"))
        return real_mkstemp(suffix, prefix, dir, text)

    def open_(path, flags, *args, **kwargs):
        if flags & os.O_CREAT:
            guard(path)
        return real_open(path, flags, *args, **kwargs)

    def mkdir(path, *args, **kwargs):
        guard(path)
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr(os, "open", open_)
    monkeypatch.setattr(os, "mkdir", mkdir)
    folder.chmod(0o555)
    return tried


def test_the_case_probe_never_writes_into_a_parent_of_the_output_folder(
    data, tmp_path, monkeypatch
):
    """h16 made its hidden probe file in the nearest existing parent of a new output folder: a
    user's folder, maybe shared or read-only. Now a new folder is answered by looking names up
    (nothing written), and an existing one is probed inside itself."""
    parent = tmp_path / "Shared"
    (parent / "Existing").mkdir(parents=True)
    (parent / "notes.txt").write_text("x", encoding="utf-8")
    stamp = 946684800_000000000  # 2000-01-01: any file made and removed there moves it to now
    os.utime(parent, ns=(stamp, stamp))
    tried = _refuse_writes_in(parent, monkeypatch)
    try:
        assert case_insensitive(parent / "new" / "day1") is False  # Linux tmp: sensitive
        assert case_insensitive(parent / "Existing") is False  # made by the admin, writable
        (parent / "Existing" / "123").mkdir()  # no letters inside: its own name answers
        assert case_insensitive(parent / "Existing") is False
        # the batch's own checks, for an output folder the user may write in a read-only one
        manifest = read_manifest(data / "manifest.yaml", output=parent / "Existing")
        assert [r.name for r in manifest.recordings] == ["Worm1", "worm1"]
        check_batch_output(manifest, parent / "Existing")
        assert tried == []
        assert parent.stat().st_mtime_ns == stamp
        assert sorted(p.name for p in parent.iterdir()) == ["Existing", "notes.txt"]
    finally:
        parent.chmod(0o755)


def test_with_no_name_to_look_up_the_probe_is_made_inside_the_output_folder(tmp_path, monkeypatch):
    """No ASCII letters anywhere (or another device above): only then a file is made, inside
    the output folder itself; a folder not made yet takes the safe side."""
    out = tmp_path / "out"
    out.mkdir()
    made: list[str] = []
    real = manifest_module.os.unlink
    monkeypatch.setattr(manifest_module, "_case_by_lookup", lambda folder: None)
    monkeypatch.setattr(manifest_module.os, "unlink", lambda p: (made.append(p), real(p)))
    assert case_insensitive(out) is False
    assert [os.path.dirname(p) for p in made] == [str(out)] and not list(out.iterdir())
    assert case_insensitive(out / "new") is True  # never probed by writing into `out`
    assert len(made) == 1


def test_names_differing_in_case_keep_their_own_folders_on_a_case_sensitive_disk(data, tmp_path):
    out = tmp_path / "out"
    manifest = read_manifest(data / "manifest.yaml", output=out)
    assert [r.name for r in manifest.recordings] == ["Worm1", "worm1"]
    assert [r.path.name for r in manifest.recordings] == ["Worm1.tif", "worm1.tif"]
    check_batch_output(manifest, out)  # nothing to refuse


def test_a_case_insensitive_disk_gets_distinct_names(data, tmp_path, monkeypatch):
    """macOS/Windows (the probe says so): the two names differ in more than case."""
    monkeypatch.setattr(manifest_module, "case_insensitive", lambda folder: True)
    names = [r.name for r in read_manifest(data / "manifest.yaml", output=tmp_path).recordings]
    assert len({n.casefold() for n in names}) == 2, names
    assert names == [f"{data.name}_Worm1", f"{data.name}_worm1-2"]
    # a manifest read without its output folder (an API caller): refused, never one folder
    plain = read_manifest(data / "manifest.yaml")
    assert [r.name for r in plain.recordings] == ["Worm1", "worm1"]
    with pytest.raises(InputError, match=r"recordings Worm1, worm1 would share one folder"):
        check_batch_output(plain, tmp_path / "out")


def test_a_folder_holding_another_recordings_results_is_never_resumed(data, tmp_path, capsys):
    """An earlier run filled `out/worm1/` for Worm1.tif (say the manifest then named it so): this
    run's worm1.tif must not resume there (its steps and curation would mix or be replaced)."""
    out = tmp_path / "out"
    manifest = read_manifest(data / "manifest.yaml", output=out)
    first = manifest.recordings[0]  # Worm1.tif
    assert run_recording(first, out)[0]["status"] == "done"
    assert folder_owner(out / "Worm1") == str(data / "Worm1.tif")
    assert json.loads((out / "Worm1" / INPUT_MARK).read_text())["path"] == str(data / "Worm1.tif")
    check_batch_output(manifest, out)  # a resume: each folder is its own recording's
    # the earlier folder under the other recording's name: by its mark, and (a folder from
    # before the mark) by the recording its session records
    shutil.copytree(out / "Worm1", out / "worm1")
    with pytest.raises(InputError) as info:
        check_batch_output(manifest, out)
    assert str(info.value) == (
        f"{out / 'worm1'} holds the results of {data / 'Worm1.tif'}, not of recording worm1 "
        f"({data / 'worm1.tif'}); give one of them another `name:` in the manifest, or move that "
        "folder out of the way"
    )
    (out / "worm1" / INPUT_MARK).unlink()
    assert folder_owner(out / "worm1") == str(data / "Worm1.tif")
    session = out / "worm1" / "session.catrack.h5"
    stamp = session.stat().st_mtime_ns
    capsys.readouterr()
    assert main(["batch", str(data / "manifest.yaml"), "-o", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"holds the results of {data / 'Worm1.tif'}, not of recording worm1" in err
    assert session.stat().st_mtime_ns == stamp  # untouched


def test_folders_an_earlier_naming_rule_made_are_found_on_a_resume(data, tmp_path):
    """A run that compared names without case on Linux (h15) put Worm1.tif in data_Worm1/ and
    worm1.tif in data_worm1-2/: a re-run finds them there (by the input each records: a mark, or
    the session's recording) instead of computing both again in Worm1/ and worm1/. A recording
    given a `name:` keeps its name."""
    out = tmp_path / "out"
    earlier = data.name
    for folder, rec in ((f"{earlier}_Worm1", "Worm1.tif"), (f"{earlier}_worm1-2", "worm1.tif")):
        (out / folder).mkdir(parents=True)
        (out / folder / INPUT_MARK).write_text(json.dumps({"path": str(data / rec)}))
    (out / "pooled").mkdir()  # no recording's folder
    manifest = read_manifest(data / "manifest.yaml", output=out)
    assert [r.name for r in manifest.recordings] == [f"{earlier}_Worm1", f"{earlier}_worm1-2"]
    check_batch_output(manifest, out)
    # a session-only folder (before the mark) is found the same way
    spec = manifest.recordings[1]
    (out / spec.name / INPUT_MARK).unlink()
    assert run_recording(spec, out)[0]["status"] == "done"
    (out / spec.name / INPUT_MARK).unlink()
    again = read_manifest(data / "manifest.yaml", output=out)
    assert [r.name for r in again.recordings] == [f"{earlier}_Worm1", f"{earlier}_worm1-2"]
    named = yaml.safe_load((data / "manifest.yaml").read_text())
    named["recordings"][0]["name"] = "first"
    for rec in named["recordings"]:  # the same files, from a manifest elsewhere
        rec["path"], rec["seeds"] = str(data / rec["path"]), str(data / rec["seeds"])
    (tmp_path / "named.yaml").write_text(yaml.safe_dump(named))
    names = [r.name for r in read_manifest(tmp_path / "named.yaml", output=out).recordings]
    assert names == ["first", f"{earlier}_worm1-2"]


def test_a_copied_project_resumes_in_its_own_folders(data, tmp_path):
    """A project (movies, manifest, batch output) copied elsewhere while the original stays
    (to a scratch disk, a cluster): each folder's mark names the original movie, which still
    exists and is another file, so h16 refused every folder ("holds the results of
    /lab/.../Worm1.tif, not of recording Worm1"). A copy of this very movie (the same name and
    content) is this recording; another movie is still refused."""
    project = tmp_path / "lab"
    project.mkdir()
    for f in data.iterdir():
        if f.is_file():
            shutil.copy(f, project / f.name)
    manifest = read_manifest(project / "manifest.yaml", output=project / "out")
    assert run_recording(manifest.recordings[0], project / "out")[0]["status"] == "done"
    copy = tmp_path / "scratch"
    shutil.copytree(project, copy)
    moved = read_manifest(copy / "manifest.yaml", output=copy / "out")
    assert folder_owner(copy / "out" / "Worm1") == str(project / "Worm1.tif")  # the original
    check_batch_output(moved, copy / "out")  # resumed there, not refused
    shutil.copytree(copy / "out" / "Worm1", copy / "out" / "worm1")  # another movie's results
    with pytest.raises(InputError, match="holds the results of .*Worm1.tif, not of recording worm1"):  # fmt: skip
        check_batch_output(moved, copy / "out")
