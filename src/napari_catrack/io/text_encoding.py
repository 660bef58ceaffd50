"""The text encoding of a table a user hands us (CSV/TSV/TXT), decided once for every reader.

Excel saves "CSV (Comma delimited)" on Windows in the Windows code page (cp1252: é, µ, ° are one
byte each) and "Unicode text" as UTF-16 with a byte-order mark; some Windows tools and instruments
write UTF-16 without one, or UTF-32; the tool writes UTF-8. What is detected, in this order:

1. a UTF-32 BOM (`FF FE 00 00`, `00 00 FE FF`; checked before UTF-16's, whose LE BOM it starts
   with): UTF-32; a UTF-16 BOM: UTF-16;
2. no BOM but NUL bytes in the first 8 KiB in the places UTF-16/UTF-32 text puts them (ASCII and
   Latin-1 characters have a NUL high byte): UTF-16 or UTF-32, little- or big-endian, taken only
   where at least 60 % of the code units have that NUL byte, no unit is all NUL (no text holds the
   character U+0000), the file starts with no image/HDF5/NumPy/ZIP signature, and the start
   decodes to printable text with a line break or a separator (`,` `;` tab);
3. NUL bytes in the first 8 KiB of a file that starts with such a signature or is not valid
   UTF-8: a binary file, refused;
4. valid UTF-8 (with or without a BOM): UTF-8;
5. else Windows-1252, where the five bytes cp1252 leaves undefined (0x81, 0x8d, 0x8f, 0x90, 0x9d)
   are their Latin-1 characters, so every byte decodes.

A UTF-16/UTF-32 file (1, 2) is decoded whole before it is read: one that is not valid there is
refused in one line naming the encoding, never read as garbage columns. The cp1252 guess is never
silent: it is one Python warning (`EncodingNote`; on the command line the line `catrack <command>:
warning: ...`; in a batch, the recording's log and report), because a file from another code
page would have wrong letters in its names and values.

Not a statistical detector (charset-normalizer, chardet): on a table whose only non-ASCII bytes
are a few µ or ° it may name any of several single-byte code pages, differently as the file
grows, where a fixed order that says what it assumed can be documented, tested and reproduced;
and it would be one more dependency for five rules.
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
_UTF32_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
# (codec, code unit size, where the NUL of an ASCII/Latin-1 character lies in a unit)
_WIDE = (("utf-32-le", 4, slice(1, 4)), ("utf-32-be", 4, slice(0, 3)),
         ("utf-16-le", 2, slice(1, 2)), ("utf-16-be", 2, slice(0, 1)))  # fmt: skip
_NAMES = {"utf-32": "UTF-32", "utf-16": "UTF-16", "utf-32-le": "UTF-32 (little-endian, no BOM)",
          "utf-32-be": "UTF-32 (big-endian, no BOM)", "utf-16-le": "UTF-16 (little-endian, no BOM)",
          "utf-16-be": "UTF-16 (big-endian, no BOM)"}  # fmt: skip
# files that are never text: TIFF, HDF5, NumPy, ZIP (xlsx, npz), PNG
_BINARY_MAGIC = (b"II*\0", b"MM\0*", b"\x89HDF", b"\x93NUMPY", b"PK\x03\x04", b"\x89PNG")
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
    return _decodes(path, "utf-8")


def _wide_without_bom(head: bytes) -> str | None:
    """The UTF-16/UTF-32 codec whose NUL-byte pattern `head` (a file's first bytes, no BOM) has,
    or None: at least 60 % of the units have the NUL bytes of an ASCII/Latin-1 character where
    that codec puts them, no unit is all NUL, and the start decodes to printable text with a line
    break or separator. Binary data with many small 16-bit values fails the last test."""
    if head.startswith(_BINARY_MAGIC):
        return None
    for codec, size, nul in _WIDE:
        units = [head[i : i + size] for i in range(0, len(head) - size + 1, size)]
        if len(units) < 2 or any(u == bytes(size) for u in units):
            continue
        if sum(not any(u[nul]) for u in units) < 0.6 * len(units):
            continue
        try:
            text = codecs.getincrementaldecoder(codec)().decode(b"".join(units))  # (cut pair: kept)
        except UnicodeDecodeError:
            continue
        printable = sum(c.isprintable() or c in "\t\r\n" for c in text)
        if printable >= 0.98 * len(text) and any(c in text for c in ",;\t\n"):
            return codec
    return None


def _decodes(path: Path, codec: str) -> bool:
    """Whether the whole file decodes as `codec` (in 1 MiB pieces)."""
    decoder = codecs.getincrementaldecoder(codec)()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def text_encoding(path: str | os.PathLike, what: str = "table") -> tuple[str, str | None]:
    """(codec name for `open`/`pd.read_csv`, the note to show or None) for the text file `path`
    (module docstring: what is detected, in which order).

    A file with NUL bytes near its start that is neither UTF-16 nor UTF-32 nor UTF-8 is binary
    (an image or HDF5 file given by mistake), and a UTF-16/UTF-32 file with bytes invalid there
    is refused: one line naming `what` (and the encoding)."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(8192)
    except OSError:
        return "utf-8-sig", None  # the caller's reader says why it cannot be read
    if head.startswith(_UTF32_BOMS):
        wide: str | None = "utf-32"  # (before UTF-16: UTF-32-LE's BOM starts with UTF-16-LE's)
    elif head.startswith(_UTF16_BOMS):
        wide = "utf-16"  # Excel's "Unicode text": exact, nothing to note
    else:
        wide = _wide_without_bom(head) if b"\0" in head else None
    if wide is not None:
        if not _decodes(path, wide):
            raise InputError(
                f"{what} {path} looks like {_NAMES[wide]} text but has bytes that are not valid "
                "there; save it as CSV (UTF-8)"
            )
        return wide, None
    if b"\0" in head and (head.startswith(_BINARY_MAGIC) or not _is_utf8(path)):
        raise InputError(
            f"{what} {path} is not a text table (CSV/TSV) nor an Excel file: its bytes are "
            "binary (an image or HDF5 file given by mistake?)"
        )
    if _is_utf8(path):
        return "utf-8-sig", None  # the BOM of Excel's "CSV UTF-8" is no column name
    return WINDOWS_1252, (
        f"{what} {path.name} read as Windows-1252 (not UTF-8): check µ, ° and accented letters "
        "in its column names and values"
    )


def table_encoding(path: str | os.PathLike, what: str = "table") -> str:
    """`text_encoding`'s codec, warning its note (once per read of a file: call it once)."""
    codec, note = text_encoding(path, what)
    if note:
        warnings.warn(note, EncodingNote, stacklevel=2)
    return codec
