"""The `catrack` command: every analysis step, headless, for scripts and batch runs.

Each sub-command lives in `napari_catrack.commands.<name>` (`register(subparsers)` + `run(args)`)
and calls the same core functions as the widgets. Commands are discovered without importing
them: the name and one-line help of each are read from its module's source, and only the command
being run is imported, so `catrack --help` and a light step start fast whatever the other
commands import. User mistakes (`CatrackError`) become one line on stderr and a non-zero exit,
never a traceback; Python warnings become one line each (`catrack <command>: warning: ...`); a
closed pipe (`catrack export S --list | head`) ends the command quietly, like any Unix tool.
SIGTERM and SIGHUP (`kill`, `timeout`, a cluster's cancel or time limit) stop a command the way
Ctrl-C does, so every atomic write removes its temp file: exit 128 + the signal's number. A stop
whose exception Python dropped (it landed in a weakref callback or `__del__`) is not lost: it is
delivered again, and checked before any output is placed and when the command returns (`stop`).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib
import os
import pkgutil
import re
import signal
import sys
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path

from napari_catrack import __version__, commands, stop
from napari_catrack.errors import CatrackError, long_paths_as_lines, warnings_as_lines
from napari_catrack.stop import Stopped

EXIT_USER_ERROR = 2
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a tool killed by a closed pipe
ALL = "*"
STOP_SIGNALS = ("SIGTERM", "SIGHUP")  # signals that stop a command cleanly (SIGHUP: not on Windows)


def _declared(path: Path) -> tuple[str, str] | None:
    """(name, help) of the `add_parser("name", help="...")` call in a command module's source,
    or None when they are not plain string literals (the module is then imported to learn)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return None
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", None) == "add_parser"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            help_text = next(
                (
                    k.value.value
                    for k in node.keywords
                    if k.arg == "help"
                    and isinstance(k.value, ast.Constant)
                    and isinstance(k.value.value, str)
                ),
                "",
            )
            return node.args[0].value, help_text
    return None


@lru_cache(maxsize=1)
def _commands() -> dict[str, tuple[str, str | None]]:
    """Command name -> (module, help; None when the module must be imported to register it)."""
    found: dict[str, tuple[str, str | None]] = {}
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = f"{commands.__name__}.{info.name}"
        declared = _declared(Path(commands.__path__[0]) / f"{info.name}.py")
        if declared is None:
            found[f"?{info.name}"] = (module, None)
        else:
            found[declared[0]] = (module, declared[1])
    return found


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors in the form of every other `catrack` error: one line,
    `catrack: error: ...`, exit 2. argparse printed the command's usage (15 lines for
    `catrack track`) and then `catrack track: error: argument --size-ratio: --size-ratio must
    ...`, while the same option's other refusal read `catrack: error: --size-ratio must ...`.
    Subcommand parsers are made of this class too (`add_subparsers` uses the parent's)."""

    def error(self, message: str):  # argparse calls it for every refusal
        self.exit(EXIT_USER_ERROR, f"catrack: error: {_argparse_message(message)} "
                  f"(see {self.prog} --help)\n")  # fmt: skip


# What a plain argparse `type=` expects, in words: `--fps: invalid float value: 'abc'` is said
# `--fps must be a number, got 'abc'`, as the parameter-dataclass options say it (h18).
_TYPE_WORDS = {"float": "a number", "int": "a whole number", "Path": "a path"}


def _argparse_message(message: str) -> str:
    """argparse's `argument --x: <why>` without the prefix when <why> names the option itself
    (`argument --size-ratio: --size-ratio must be ...`), else as `--x: <why>`."""
    m = re.fullmatch(r"argument (\S+): (.*)", message, flags=re.S)
    if m is None:
        return message
    names, why = m.group(1).split("/"), m.group(2)
    if names == ["COMMAND"] and why.startswith("invalid choice: "):
        return f"unknown command {why.removeprefix('invalid choice: ')}"
    typed = re.fullmatch(r"invalid (\w+) value: (.*)", why, flags=re.S)
    if typed is not None:  # a plain `type=float` option: argparse names the Python type (h19)
        kind = _TYPE_WORDS.get(typed.group(1), "a valid value")
        return f"{names[-1]} must be {kind}, got {typed.group(2)}"
    if any(re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", why) for n in names):
        return why
    return f"{m.group(1)}: {why}"


def build_parser(only: str | None = ALL) -> argparse.ArgumentParser:
    """The `catrack` parser. `only`: the command whose module is imported and registered (ALL:
    every command, as tests and documentation tools need; None: none, for the top-level help);
    the others are listed with their help and registered only when run."""
    parser = _Parser(
        prog="catrack",
        description="napari-catrack: calcium-imaging video analysis from the command line.",
    )
    parser.add_argument("--version", action="version", version=f"napari-catrack {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in _commands().items():
        if only == ALL or name == only or help_text is None:
            importlib.import_module(module).register(subparsers)
        else:
            subparsers.add_parser(name, help=help_text)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (so tests can call it in-process)."""
    argv = [_expand_home(str(a)) for a in (sys.argv[1:] if argv is None else argv)]
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(only=command if command in _commands() else None)
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # said by the command's parser: "see catrack track --help", not "catrack --help"
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        sub.choices.get(args.command, parser).error(f"unrecognized arguments: {' '.join(unknown)}")
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USER_ERROR
    stop.reset()
    try:
        with (
            _stop_signals_raise(),
            warnings_as_lines(f"catrack {args.command}"),
            long_paths_as_lines(),
        ):
            code = int(args.func(args) or 0)
            stop.check()  # a stop whose exception was dropped on the way (a bare `except:`)
        sys.stdout.flush()  # a closed pipe shows here, not at exit where it cannot be caught
        return code
    except Stopped as exc:
        return _stopped(args.command, exc.signum)
    except CatrackError as exc:
        if stop.requested() is not None:  # e.g. a write cut short by the stop
            return _stopped(args.command, stop.requested())
        print(f"catrack: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        if stop.requested() is not None:
            return _stopped(args.command, stop.requested())
        print("catrack: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except Exception:
        if stop.requested() is not None:  # a library turned the stop into an error of its own
            return _stopped(args.command, stop.requested())
        raise
    finally:
        stop.reset()


def _expand_home(arg: str) -> str:
    """`~/x` and `--output=~/x` as the user's home: a shell expands `~` only at the start of a
    word, so `--output=~/results` (and a quoted "~/x") reached us as is and made a folder named
    `~` in the working folder."""
    opt, eq, value = arg.partition("=") if arg.startswith("--") else ("", "", arg)
    if value == "~" or value.startswith("~/") or value.startswith("~" + os.sep):
        return f"{opt}{eq}{os.path.expanduser(value)}"
    return arg


def _stopped(command: str, signum: int) -> int:
    name = signal.Signals(signum).name
    print(f"catrack {command}: stopped by {name}; no output was left half-written", file=sys.stderr)
    return 128 + signum


@contextlib.contextmanager
def _stop_signals_raise() -> Iterator[None]:
    """While a command runs, SIGTERM/SIGHUP raise `Stopped` in the main thread (previous handlers
    restored after). Left alone: a signal already ignored (`nohup`), and a call from another
    thread (tests), where Python cannot install handlers.

    The handler stays armed: every signal is recorded (`stop.request`) and raises again, except
    inside a cleanup that must finish (`stop.shielded`, the atomic writes' temp-file removal),
    where it is only recorded and raised at the next `stop.check`. A `Stopped` that Python drops
    (raised inside a weakref callback or `__del__`: "Exception ignored in ...") reaches the
    unraisable hook, which raises it again at the next function call outside such a callback
    (a one-shot profile function) instead of printing a traceback."""
    main_pid = os.getpid()
    installed: dict[int, object] = {}

    def handler(signum: int, frame) -> None:
        if os.getpid() != main_pid:  # a forked worker inherited the handler: die as it would have
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        stop.request(signum)
        if _called_from(frame, unraisable.__code__):  # a raise here would be dropped too
            _raise_at_next_call(stop.requested(), unraisable.__code__)
        elif not stop.is_shielded():
            raise Stopped(stop.requested())

    previous_hook = sys.unraisablehook

    def unraisable(info) -> None:
        if installed and isinstance(info.exc_value, Stopped) and os.getpid() == main_pid:
            _raise_at_next_call(info.exc_value.signum, unraisable.__code__)  # not the traceback
            return
        previous_hook(info)

    for name in STOP_SIGNALS:
        sig = getattr(signal, name, None)
        if sig is None:
            continue
        try:
            if signal.getsignal(sig) != signal.SIG_IGN:
                installed[sig] = signal.signal(sig, handler)
        except ValueError:  # not the main thread
            break
    sys.unraisablehook = unraisable
    try:
        yield
    finally:
        sys.unraisablehook = previous_hook
        if getattr(sys.getprofile(), "catrack_stop", False):
            sys.setprofile(None)
        for sig, previous in installed.items():
            signal.signal(sig, signal.SIG_DFL if previous is None else previous)


def _raise_at_next_call(signum: int, hook_code) -> None:
    """Raise `Stopped` again at the next function call outside the unraisable hook (where it
    would be dropped again), through a one-shot profile function. Under a profiler the stop
    waits for the next `stop.check` instead."""
    if sys.getprofile() is not None:
        return

    def profile(frame, event, _arg) -> None:
        if event in ("call", "c_call") and not _called_from(frame, hook_code):
            sys.setprofile(None)
            raise Stopped(signum)

    profile.catrack_stop = True
    sys.setprofile(profile)


def _called_from(frame, code) -> bool:
    while frame is not None:
        if frame.f_code is code:
            return True
        frame = frame.f_back
    return False


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so Python's final flush of a closed pipe says nothing."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (
        AttributeError,
        OSError,
        ValueError,
    ):  # stdout replaced by one without a file descriptor (tests)
        pass


def console_main() -> None:  # pragma: no cover - thin wrapper for the console script
    _unencodable_as_escapes()
    sys.exit(main())


def _unencodable_as_escapes() -> None:
    """Characters stdout's encoding cannot write come out as `\\u4e2d`, not UnicodeEncodeError:
    Windows writes a redirected stdout (`> log.txt`, a pipe, a notebook's `!catrack`) in the ANSI
    code page (cp1252), so a path with 中 in the last line crashed a finished command."""
    stream = sys.stdout
    if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
        with contextlib.suppress(ValueError, OSError):
            stream.reconfigure(errors="backslashreplace")


if __name__ == "__main__":  # pragma: no cover
    console_main()
