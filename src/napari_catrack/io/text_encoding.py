"""The text encoding of a table a user hands us (CSV/TSV/TXT), decided once for every reader.

Excel saves "CSV (Comma delimited)" on Windows in the Windows code page (cp1252: é, µ, ° are one
byte each) and "Unicode text" as UTF-16 with a byte-order mark; the tool writes UTF-8. A table is
read as UTF-8 (with or without a BOM) when it is valid UTF-8, as UTF-16 when it starts with a
UTF-16 BOM, else as Windows-1252, where the five bytes cp1252 leaves undefined (0x81, 0x8d, 0x8f,
0x90, 0x9d) are their Latin-1 characters, so every byte decodes. The cp1252 guess is never silent:
it is one Python warning (`EncodingNote`; on the command line the line `catrack <command>:
warning: ...`), because a file from another code page would have wrong letters in its names.
"""

from __future__ import annotations

import codecs
import encodings.cp1252
import os
import warnings
from pathlib import Path

from napari_catrack.errors import InputError

__all__ = ["WINDOWS_1252", "EncodingNote", "table_encoding", "text_encoding"]

WINDOWS_1252 = "catrack_windows_1252"  # cp1252, its 5 undefined bytes as Latin-1
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_CHUNK = 1 << 20

_DECODING = "".join(
    chr(i) if c == "\ufffe" else c for i, c in enumerate(encodings.cp1252.decoding_table)
)
_ENCODING = codecs.charmap_build(_DECODING)


class _Decoder(codecs.IncrementalDecoder):
    def decode(self, data, final=False):  # one byte, one character: no state
        return codecs.charmap_decode(data, self.errors, _DECODING)[0]


class _Encoder(codecs.IncrementalEncoder):
    def encode(self, text, final=False):
        return codecs.charmap_encode(text, self.errors, _ENCODING)[0]


def _search(name: str) -> codecs.CodecInfo | None:
    if name != WINDOWS_1252:
        return None
    return codecs.CodecInfo(
        name=WINDOWS_1252,
        encode=lambda text, errors="strict": codecs.charmap_encode(text, errors, _ENCODING),
        decode=lambda data, errors="strict": codecs.charmap_decode(data, errors, _DECODING),
        incrementalencoder=_Encoder,
        incrementaldecoder=_Decoder,
    )


codecs.register(_search)  # a codec name pandas, open() and TextIOWrapper all take


class EncodingNote(UserWarning):
    """A table read as Windows-1252: said once, as one line."""


def _is_utf8(path: Path) -> bool:
    """Whether the whole file decodes as UTF-8 (read in 1 MiB pieces: no second copy in memory)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def text_encoding(path: str | os.PathLike, what: str = "table") -> tuple[str, str | None]:
    """(codec name for `open`/`pd.read_csv`, the note to show or None) for the text file `path`.

    A file with NUL bytes near its start and no UTF-16 BOM is binary (an image or HDF5 file given
    by mistake) and refused in one line naming `what`."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(8192)
    except OSError:
        return "utf-8-sig", None  # the caller's reader says why it cannot be read
    if head.startswith(_UTF16_BOMS):
        return "utf-16", None  # Excel's "Unicode text": exact, nothing to note
    if _is_utf8(path):
        return "utf-8-sig", None  # the BOM of Excel's "CSV UTF-8" is no column name
    if b"\0" in head:
        raise InputError(
            f"{what} {path} is not a text table (CSV/TSV) nor an Excel file: its bytes are "
            "binary (an image or HDF5 file given by mistake?)"
        )
    return WINDOWS_1252, (
        f"{what} {path.name} read as Windows-1252 (not UTF-8): check µ/° in column names"
    )


def table_encoding(path: str | os.PathLike, what: str = "table") -> str:
    """`text_encoding`'s codec, warning its note (once per read of a file: call it once)."""
    codec, note = text_encoding(path, what)
    if note:
        warnings.warn(note, EncodingNote, stacklevel=2)
    return codec
