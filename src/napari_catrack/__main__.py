"""`python -m napari_catrack ...` is the `catrack` command (for when the console script is not
on PATH: a venv not activated, a notebook kernel, Windows' Scripts folder)."""

from napari_catrack.cli import console_main

if __name__ == "__main__":
    console_main()
