"""Arguments and helpers shared by CLI commands, so every command reads recordings the same way."""

from __future__ import annotations

import argparse
import os
import sys

from napari_catrack.errors import InputError
from napari_catrack.io.layouts import LAYOUTS

# outputs never overwrite inputs: one check, shared with batch and export
from napari_catrack.io.output_check import (  # noqa: F401 (commands import them from here)
    FILE_SUFFIXES,
    OutputFolder,
    recording_inputs,
    same_file,
    session_inputs,
)
from napari_catrack.io.output_check import check_outputs as _check_outputs


def check_outputs(outputs, inputs) -> None:
    """`io.output_check.check_outputs`, except that `--session` may be REC's own session file
    (`movie.catrack.h5`): the command records its step there on purpose (the session is
    re-read before it is written, so what the alignment rule cached meanwhile is kept)."""
    import os

    session = outputs.get("--session")
    if session:
        inputs = {
            k: v
            for k, v in inputs.items()
            if not (str(k).startswith("session file of ") and v is not None
                    and os.path.abspath(v) == os.path.abspath(session))
        }  # fmt: skip
    _check_outputs(outputs, inputs)


SPLITS = ("left-right", "right-left", "top-bottom", "bottom-top")


def add_recording_arguments(parser: argparse.ArgumentParser, *, positional: bool = True) -> None:
    """REC plus the options that say how to find the green and red channels in it."""
    if positional:
        parser.add_argument(
            "recording", metavar="REC", help="TIFF/HDF5/zarr movie, TIFF folder or glob"
        )
    group = parser.add_argument_group("channels")
    group.add_argument(
        "--layout",
        choices=LAYOUTS,
        default=None,
        help="how green and red are stored (default: detect a channel axis, else single channel)",
    )
    group.add_argument(
        "--split", choices=SPLITS, default=None, help="side-by-side halves (green first)"
    )
    group.add_argument("--green-channel", type=int, default=0, metavar="I",
                       help="index of the green (activity) channel on the channel axis "
                       "(default 0); interleaved frames: the lower of the two indices comes "
                       "first")  # fmt: skip
    group.add_argument("--red-channel", type=int, default=1, metavar="I",
                       help="index of the red (structural) channel (default 1); a file with 3+ "
                       "channels needs both")  # fmt: skip
    group.add_argument("--dataset", default=None, help="HDF5 dataset path (when ambiguous)")
    group.add_argument("--axes", default=None, help="override the file's axis letters, e.g. YXT")
    group.add_argument(
        "--z-projection",
        default="max",
        help="how to reduce a Z axis: max, mean, or a plane index (default: max)",
    )


def warn(command: str, message: str) -> None:
    """One warning line on stderr: how every command tells the user what to check."""
    print(f"catrack {command}: warning: {message}", file=sys.stderr)


def progress_printer(what: str, every_percent: int = 10):
    """`progress(done, total, message)` printing every `every_percent` % to stderr (stdout stays
    clean): a long step (a 20,000-frame behaviour video) says it is alive and how far it got."""
    last = [-1]

    def progress(done: int, total: int, message: str) -> None:
        step = (100 * done // max(total, 1)) // every_percent
        if step != last[0]:
            last[0] = step
            print(f"{what}: {every_percent * step:3d}% ({message})", file=sys.stderr, flush=True)

    return progress


# --- the frame rate of a table: `catrack transients` and `catrack ensembles` --------------------
WIDE_HEADERS = "the wide table's column headers (times in seconds)"


def stated_frame_rate(table, layout: str | None, pairs, where: str, none: str):
    """The rate a table states, where it is read and why there is none: a long table's (frame,
    time) column `pairs` (`frame_rate_of_times`, e.g. a traces table's frame and time_s: `where`
    "the table's time_s column", `none` "the table has no time_s column that states it"; times
    that are there but uneven say so instead), else a wide table's headers when they are times
    (`wide_fps`). `layout` None: the wide reading when the table has no long columns. Returns
    (rate or None, where, why none)."""
    from napari_catrack.core.transients import frame_rate_of_times
    from napari_catrack.io.tables import wide_fps

    if layout != "wide":
        rate, uneven = frame_rate_of_times(table, pairs)
        if rate or layout == "long" or {"neuron_id", pairs[0][0]} <= set(table.columns):
            return rate, where, f"in {where}, {uneven}" if uneven else none
    return (wide_fps(table), WIDE_HEADERS,
            "the wide table's column headers are frame numbers, not evenly spaced times")  # fmt: skip


def frame_rate_from_args(args: argparse.Namespace, target, command: str, stated, what: str):
    """The frame rate a table command works at, one rule for `catrack transients` and `catrack
    ensembles`: --fps, else the --session's (`target`), else the one the table states
    (`stated()`: `stated_frame_rate`'s triple, called only when needed), said on stderr. A --fps
    that contradicts the session's or the table's rate is used, with a warning; none of the
    three: `--fps is required`, naming `what` the rate is of."""
    from napari_catrack.core.transients import check_fps

    given = getattr(args, "fps", None)
    session = target.session.frame_rate() if target is not None else None
    if session:
        if given is not None and abs(given - session) > 1e-6 * session:
            warn(command, f"--fps {given:g} differs from the session's frame rate {session:g} Hz; "
                 "using --fps")  # fmt: skip
        return check_fps(given if given is not None else session)
    rate, where, why_none = stated()
    if given is not None:
        if rate and abs(given - rate) > 1e-3 * rate:
            warn(command, f"--fps {given:g} differs from the {rate:g} Hz read from {where}; "
                 "using --fps")  # fmt: skip
        return check_fps(given)
    if not rate:
        raise InputError(f"--fps is required: the frame rate of the {what} in frames per second "
                         f"(no --session gives one, and {why_none})")  # fmt: skip
    print(f"catrack {command}: frame rate {rate:g} Hz, from {where} (--fps to give another)",
          file=sys.stderr)  # fmt: skip
    return check_fps(rate)


def recording_from_args(args: argparse.Namespace, *, memmap: bool = False):
    """Open the recording named by `add_recording_arguments` options; its reader notes (e.g.
    "the even and odd frames look like ONE channel") are printed as warnings.

    `memmap=True` for commands that read frames with plain numpy (see `open_recording`).
    """
    from napari_catrack.io.recording import open_recording

    if args.split and args.layout and args.layout != args.split:
        raise InputError(f"--split {args.split} contradicts --layout {args.layout}; give one")
    z = args.z_projection
    z_projection: str | int = int(z) if str(z).lstrip("-").isdigit() else z
    rec = open_recording(
        args.recording,
        layout=args.split or args.layout,
        green_channel=args.green_channel,
        red_channel=args.red_channel,
        dataset=args.dataset,
        axes=args.axes,
        z_projection=z_projection,
        memmap=memmap,
    )
    for note in rec.metadata.get("notes", []):
        warn(getattr(args, "command", None) or "", note.removeprefix("WARNING: "))
    return rec


def add_alignment_arguments(parser: argparse.ArgumentParser) -> None:
    """--align FILE / --no-align: how a command that maps red <-> green finds the alignment."""
    group = parser.add_argument_group(
        "alignment",
        "red->green alignment: --align FILE, else the one recorded in --session FILE, else the "
        "one accepted in the recording's session file, else an estimate (what is used is "
        "printed on stderr)",
    )
    group.add_argument("--align", default=None, metavar="JSON",
                       help="alignment file from `catrack align` (dy, dx, rotation_deg)")  # fmt: skip
    group.add_argument("--no-align", action="store_true",
                       help="use red as it is (identity): opt out of alignment")  # fmt: skip


def alignment_from_args(args: argparse.Namespace, recording, command: str):
    """The alignment in force for this command (core rule), reported on stderr; None = identity."""
    from napari_catrack.core.alignment_rule import alignment_for_recording

    found = alignment_for_recording(
        recording,
        align_file=args.align,
        no_align=args.no_align,
        command_session=getattr(args, "session", None) or None,  # its `alignment` step first
        log=lambda line: print(f"catrack {command}: {line}", file=sys.stderr),
    )
    return found.transform


def _number(kind, test, what: str):
    """An argparse type that also checks the range, so bad options fail before any work."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not test(value):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


def _finite(x: float) -> bool:
    return x == x and abs(x) != float("inf")


non_negative_int = _number(int, lambda v: v >= 0, "an integer >= 0")
positive_int = _number(int, lambda v: v >= 1, "an integer >= 1")
probability = _number(float, lambda v: 0 < v < 1, "a probability between 0 and 1 (exclusive)")
positive_float = _number(float, lambda v: _finite(v) and v > 0, "a finite number > 0")
non_negative_float = _number(float, lambda v: _finite(v) and v >= 0, "a finite number >= 0")
percentile = _number(float, lambda v: _finite(v) and 0 <= v <= 100, "a percentile in 0-100")


def add_movie_arguments(parser: argparse.ArgumentParser) -> None:
    """REC for single-channel (two-photon) steps, plus how to find the movie in the file."""
    parser.add_argument(
        "recording", metavar="REC", help="TIFF/HDF5/zarr movie, TIFF folder or glob"
    )
    group = parser.add_argument_group("movie")
    group.add_argument("--channel", type=int, default=None, metavar="I",
                       help="channel index when the file has a channel axis (default 0)")  # fmt: skip
    group.add_argument("--dataset", default=None, help="HDF5 dataset path (when ambiguous)")
    group.add_argument("--axes", default=None, help="override the file's axis letters, e.g. YXT")
    group.add_argument("--fps", type=positive_float, default=None, metavar="F",
                       help="frame rate (default: from the file)")  # fmt: skip
    group.add_argument("--z-projection", default=None, metavar="N|max|mean",
                       help="a file with a Z axis (several planes): the plane to use (0, 1, ...), "
                       "or max/mean to project them; required for such a file")  # fmt: skip


def movie_options(args: argparse.Namespace) -> dict:
    """The `open_recording` options that `add_movie_arguments` options give (only those set)."""
    options: dict = {}
    if args.channel is not None:
        # one channel picked from the channel axis ("single": no red to name; "channel-axis"
        # took red = 1 by default, so `--channel 1` failed as "the same channel")
        options.update(layout="single", green_channel=args.channel)
    if args.dataset is not None:
        options["dataset"] = args.dataset
    if args.axes is not None:
        options["axes"] = args.axes
    z = getattr(args, "z_projection", None)
    if z is not None:
        options["z_projection"] = int(z) if str(z).lstrip("-").isdigit() else z
    return options


def frames_from_args(args: argparse.Namespace):
    """A `FrameSource` for the movie named by `add_movie_arguments` options; its reader notes
    (a folder mixing frame kinds, hidden files skipped) are printed as warnings, as
    `recording_from_args` prints them. A `--fps` that contradicts the file's own rate is used
    and said (a warning line), as batch does: it retimes everything downstream (and the
    registered movie)."""
    from napari_catrack.io.frames import open_frames

    source = open_frames(args.recording, **movie_options(args))
    for note in source.notes:
        warn(getattr(args, "command", None) or "", note.removeprefix("WARNING: "))
    if args.fps is not None:
        stated = source.fps
        if stated and abs(stated - args.fps) > 0.01 * stated:
            warn(getattr(args, "command", None) or "", f"--fps {args.fps:g} differs from the "
                 f"{stated:g} Hz the file states: {args.fps:g} Hz is used")  # fmt: skip
        source.fps = args.fps
    return source


# --- --session FILE: record a standalone step in a session file ------------------------------
def add_session_argument(parser: argparse.ArgumentParser, recording: str | None = "REC",
                         only: str = "", *, any_session: bool = False) -> None:  # fmt: skip
    """--session FILE: also record the step (its result, parameters and input files) in a
    session file, as `catrack batch` and the widgets do, so napari can open the results.

    `recording`: the argument that becomes the session's recording, as the help names it; None
    for a command that reads a table (any session takes its step, a new one has no recording,
    and there is no --relink: `session_from_args(args)` without a recording). `only`: when the
    argument is the recording (e.g. " (imagej; another tool's output: none)"). `any_session`:
    the command takes any existing session (`session_from_args(..., check=False)`: a behaviour
    video is not the imaging recording), so the help promises no refusal and there is no
    --relink."""
    if recording is None:
        parser.add_argument(
            "--session",
            default=None,
            metavar="FILE",
            help="also record this step in the session file FILE (*.catrack.h5): an existing one "
            "takes it whatever its recording (the input is a table, not a movie); a missing one "
            "is created without a recording",
        )
        return
    if any_session:
        parser.add_argument(
            "--session",
            default=None,
            metavar="FILE",
            help=f"also record this step in the session file FILE (*.catrack.h5; created when "
            f"missing, with {recording} as its recording{only}): an existing one takes it "
            "whatever its recording (the behaviour video is not the imaging recording)",
        )
        return
    parser.add_argument(
        "--session",
        default=None,
        metavar="FILE",
        help=f"also record this step in the session file FILE (*.catrack.h5; created when "
        f"missing, with {recording} as its recording{only}; refused if it refers to another "
        "recording)",
    )
    parser.add_argument(
        "--relink",
        action="store_true",
        help="with --session: the session's recording is not on disk (a session copied or moved "
        f"without it): make {recording} its recording (it must have the frames and frame size "
        "recorded)",
    )


def add_params_from_argument(parser: argparse.ArgumentParser, step: str) -> None:
    """--params-from SESSION: run with the parameters a tuned session's `step` ran with (the
    values that differ from the defaults), as `catrack batch --params-from` does for many."""
    parser.add_argument(
        "--params-from",
        default=None,
        metavar="SESSION",
        help=f"start from the {step} parameters the session file SESSION (*.catrack.h5) ran with "
        "(those that differ from the defaults: tune once in napari, run the same on other "
        "recordings); options given on this command line win",
    )


def params_from_args(args: argparse.Namespace, step: str, command: str) -> dict:
    """The values `--params-from SESSION` gives batch step `step` (field names), for
    `Params.from_args(args, **values)`, under the options given on the command line; what was
    taken, kept or overridden is said on stderr, one line each. Empty without --params-from."""
    path = getattr(args, "params_from", None)
    if not path:
        return {}
    from napari_catrack.batch.from_session import read_session_params

    taken = read_session_params(path, [step])
    for line in taken.lines([step]):
        print(f"catrack {command}: {line}", file=sys.stderr)
    values = dict(taken.values.get(step, {}))
    given = [k for k in values if getattr(args, k, None) is not None]
    if given:
        print(f"catrack {command}: this command line's {', '.join(given)} over "
              f"{taken.path.name}'s", file=sys.stderr)  # fmt: skip
    return values


class SessionTarget:
    """The session a command records its step into (`--session`), loaded before any work."""

    def __init__(self, path, session, recording, command: str, args=None) -> None:
        self.path, self.session, self.recording, self.command = path, session, recording, command
        self.open_options: dict = {}  # how REC is opened (its plane, channel) for a new reference
        self._stamp = _file_stamp(path)
        self._recorded: list[str] = []
        # steps a record took away (the bouts of a replaced velocity, `record_velocity`): also
        # away in a version of the file another program saved meanwhile (`save`)
        self._removed: set[str] = set()
        # --params-from SESSION: among the inputs of each step recorded
        self.params_from: str | None = getattr(args, "params_from", None)
        self.relinked = False  # `--relink`: the session's recording reference is REC now

    def record(self, record, *args, **kwargs):
        """Call a step's record function on the session (not written yet: `save` writes)."""
        if self.params_from and "inputs" in kwargs:
            kwargs["inputs"] = {**(kwargs["inputs"] or {}), "params_from": self.params_from}
        before = {name: rec for name, rec in self.session.steps.items()}
        out = record(self.session, *args, save=False, **kwargs)
        self._recorded += [n for n, r in self.session.steps.items() if before.get(n) is not r]
        now = set(self.session.steps)
        self._removed = (self._removed | (set(before) - now)) - now
        return out

    def save(self, recording=None) -> None:
        """Write the session atomically. A new session (or one without a recording reference)
        takes `recording` (an opened `Recording`, else REC opened lazily) as its reference. If
        another program saved the file meanwhile, the steps are recorded into that version (and
        the steps a record removed are removed from it). Arrays the command did not use are
        copied from the file as stored (not decompressed); the file they are read from is
        closed afterwards: the command is done with it."""
        from napari_catrack.session import Session

        session = self.session
        try:
            if self.path.is_file() and _file_stamp(self.path) != self._stamp:
                fresh = Session.load(self.path, lazy_arrays=True)
                for name in self._removed:
                    fresh.steps.pop(name, None)
                for name in self._recorded:
                    if name in session.steps:  # (not one a later record removed)
                        fresh.steps[name] = session.steps[name]
                if self.relinked:
                    fresh.recording = session.recording
                session = fresh
            if not session.recording and self.recording is not None:
                _set_reference(session, self.recording, recording, self.open_options)
            session.save(self.path)
        finally:
            session.close()
            self.session.close()
        steps = ", ".join(dict.fromkeys(self._recorded))
        print(f"catrack {self.command}: step {steps} recorded in {self.path}", file=sys.stderr)


def _file_stamp(path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def _set_reference(session, path, recording, options: dict | None = None) -> None:
    """The session's recording reference (path, open options, summary), as batch and demo set
    it; a file the reader cannot open on its own (it needs options) is named with none.
    `options`: how the command opened REC (`--z-projection`, `--channel`), so napari shows the
    plane and channel the step worked on."""
    if recording is None:
        from napari_catrack.errors import CatrackError
        from napari_catrack.io.recording import open_recording

        try:
            recording = open_recording(path, **(options or {}))
        except (CatrackError, OSError):
            session.set_recording(str(path), {}, {})
            return
        try:
            session.set_recording(str(path), recording.options, recording.summary())
        finally:
            recording.close()
        return
    session.set_recording(str(path), recording.options, recording.summary())


def session_from_args(args: argparse.Namespace, recording=None, *, also=(), check=True):
    """The `--session` target, or None without the option; call it before any work.

    A missing FILE becomes a new session (`recording`, the path the command reads, becomes its
    reference when the step is saved; None: no reference, for commands that read tables). An
    existing one is loaded: a damaged file is the one `DamagedSession` line and is never
    written; one that refers to another recording than `recording` is refused (`check=False`
    for the behaviour video, which is not the imaging recording; `also`: step names whose
    `output` attribute is an accepted movie too, as a registration's registered movie).
    """
    from pathlib import Path

    if not getattr(args, "session", None):
        return None
    from napari_catrack.session import SESSION_SUFFIX, Session

    path = Path(args.session)
    command = getattr(args, "command", None) or ""
    if path.exists() and not path.is_file():
        raise InputError(f"--session {path} is a folder, not a session file")
    if not path.exists():
        suffix = path.suffix.lower()
        if suffix in FILE_SUFFIXES and suffix not in (".h5", ".hdf5"):  # HDF5 named `x.tif`
            raise InputError(
                f"--session {path}: a new session file is named *{SESSION_SUFFIX}, not "
                f"*{suffix} (the recording or an output given by mistake?)"
            )
        return SessionTarget(path, Session(path, autosave=False), recording, command, args)
    # arrays are read when a step uses them (a long video's masks stay on disk for a step that
    # adds a table) and `save` copies the others as stored; a damaged file: DamagedSession,
    # before any work (its arrays' headers are read; their compressed bytes when used)
    session = Session.load(path, lazy_arrays=True)
    session.autosave = False
    ref = session.recording.get("path")
    if check and recording is not None and ref:
        accepted = [ref]
        for step in also:
            output = session.steps[step].attrs.get("output") if step in session else None
            if output:
                accepted.append(session.resolve_stored_path(output))
        if not any(same_file(recording, known) for known in accepted):
            if not (getattr(args, "relink", False) and not os.path.exists(ref)):
                why = _other_recording_message(path, ref, recording)
                if getattr(args, "relink", False):  # the session's own recording is on disk
                    why += " (--relink is only for a session whose recording is missing)"
                raise InputError(why)
            _relink(session, path, recording)
            target = SessionTarget(path, session, recording, command, args)
            target.relinked = True
            return target
    return SessionTarget(path, session, recording, command, args)


def _relink(session, session_path, recording) -> None:
    """`--relink`: REC becomes the recording of a session whose own is not on disk, opened with
    the session's options, when it has the frames and frame size the session recorded (a
    session's results are pixel positions and frame numbers of that recording)."""
    from napari_catrack.errors import CatrackError
    from napari_catrack.io.recording import open_recording

    old = session.recording
    try:
        rec = open_recording(recording, **(old.get("options") or {}))
    except CatrackError as exc:
        raise InputError(
            f"--relink: {recording} cannot be read as the session's recording: {exc}"
        ) from None
    try:
        was, now = old.get("summary") or {}, rec.summary()
        keys = [k for k in ("frames", "height", "width") if was.get(k) is not None]
        if not keys:
            raise InputError(
                f"--relink: --session {session_path} does not record its recording's frames "
                "and frame size, so REC cannot be checked against them"
            )
        differ = [
            f"{k} {now.get(k)} (the session's: {was[k]})" for k in keys if now.get(k) != was[k]
        ]
        if differ:
            raise InputError(
                f"--relink: REC {recording} is not the session's recording: " + ", ".join(differ)
            )
        session.set_recording(os.path.abspath(recording), rec.options, rec.summary())
    finally:
        rec.close()


def _other_recording_message(session_path, ref: str, recording) -> str:
    """Why a `--session` file is refused for REC, in one line: which recording the session
    belongs to, where it was looked for (absolute: a copied session's relative reference is
    resolved beside the session file, not in the working folder), and what to do."""
    where, given = os.path.abspath(ref), os.path.abspath(recording)
    head = f"--session {session_path} belongs to the recording {where}"
    if not os.path.exists(where):  # a session copied without its recording (or one moved)
        return (
            f"{head}, which is not on disk (a session looks for its recording beside itself "
            f"when it was saved there); REC is {given}: copy that recording to {where}, add "
            "--relink to make REC the session's recording, or give a new session file name"
        )
    return f"{head}, not REC {given}: give REC as {where}, or a new session file name for REC"
