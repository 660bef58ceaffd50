"""`--session`'s help says what each command makes the session's recording (h19: `catrack
transients` and `catrack ensembles` said "created when missing, with REC as its recording" and
offered `--relink` ("make REC its recording"), but take no REC: they read a table)."""

from __future__ import annotations

import pytest

from napari_catrack.cli import build_parser


def _help(command: str) -> str:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.choices and command in a.choices)
    return " ".join(sub.choices[command].format_help().split())


@pytest.mark.parametrize("command", ["transients", "ensembles"])
def test_table_commands_name_no_recording(command):
    text = _help(command)
    assert "REC" not in text and "--relink" not in text
    assert "a missing one is created without a recording" in text


def test_movie_commands_keep_rec_and_relink():
    text = _help("traces")
    assert "with REC as its recording" in text and "make REC its recording" in text
    text = _help("import")
    assert "with MOVIE as its recording (imagej; another tool's output gives none)" in text
    assert "make MOVIE its recording" in text and "REC" not in text
