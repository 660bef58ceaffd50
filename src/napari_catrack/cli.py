"""The `catrack` command: every analysis step, headless, for scripts and batch runs.

Each sub-command lives in `napari_catrack.commands.<name>` and calls the same core functions as the
widgets. User mistakes (`CatrackError`) become one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from napari_catrack import __version__, commands
from napari_catrack.errors import CatrackError

EXIT_USER_ERROR = 2


def _command_modules() -> list[str]:
    return sorted(
        name for _, name, _ in pkgutil.iter_modules(commands.__path__) if not name.startswith("_")
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="catrack",
        description="napari-catrack: calcium-imaging video analysis from the command line.",
    )
    parser.add_argument("--version", action="version", version=f"napari-catrack {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _command_modules():
        module = importlib.import_module(f"napari_catrack.commands.{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (so tests can call it in-process)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USER_ERROR
    try:
        return int(args.func(args) or 0)
    except CatrackError as exc:
        print(f"catrack: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("catrack: interrupted", file=sys.stderr)
        return 130


def console_main() -> None:  # pragma: no cover - thin wrapper for the console script
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    console_main()
