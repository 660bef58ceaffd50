"""Behaviour videos (AVI, MP4, MOV, MKV ...) read lazily, frame by frame, with PyAV.

Opening a video reads its packet index (no decoding) and decodes the first frame only; a frame
is decoded when asked for. Sequential reads continue the running decoder; a jump seeks to the
key frame before the wanted one and decodes forward (every frame of a Motion-JPEG AVI, the
usual behaviour-camera format, is a key frame, so jumps there are cheap). Colour videos are
read as luma (grayscale), 16-bit gray codecs (FFV1) keep their 16 bits.

Damaged files (a copy cut short, a bad sector) are read as far as they go, and say so
(`VideoReader.notes`, lines starting "WARNING", shown by the CLI and napari):
- fewer frames than the container declares: how many could be read of how many;
- a frame whose data is cut off (the last one of a truncated file) is left out, not shown
  half-decoded;
- a damaged stretch in the middle that the demuxer skipped (an AVI numbers its frames as it
  finds them, so every later frame would move earlier in time): the missing frames are put
  back as blank frames where the byte gap says they were, so later frames keep their numbers
  and times (stage log, imaging alignment); when the gap cannot be sized, the warning says the
  later frames may be shifted;
- a frame that cannot be decoded is a blank (all-zero) frame, listed in
  `VideoReader.undecodable`, and never an error: the segmentation skips blank frames (no mask,
  listed as doubtful) and napari shows a black frame;
- a damaged file whose frames are all key frames (Motion-JPEG) is decoded packet by packet
  from the bytes the index found, not by seeking: an AVI demuxer numbers frames as it reads
  but seeks by the file's own index, and after a damaged stretch the two disagree (a jump
  landed a frame off). A JPEG without its end marker (cut inside) is blank, not half-grey.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from napari_catrack.errors import InputError
from napari_catrack.text import frame_ranges

VIDEO_SUFFIXES = (".avi", ".mp4", ".mov", ".mkv", ".m4v", ".wmv", ".mpg", ".mpeg", ".webm")
GAP_BYTES = 256  # more bytes than this (and half a frame's) between two packets: data skipped


def is_video_path(path: str | os.PathLike) -> bool:
    return str(path).lower().endswith(VIDEO_SUFFIXES)


class VideoReader:
    """Grayscale frames of one video file, decoded on demand (thread-safe)."""

    def __init__(self, path: str | os.PathLike) -> None:
        from napari_catrack.optional import require

        av = require("av", "reading behaviour videos")

        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"file not found: {self.path}")
        self._lock = threading.RLock()
        try:
            self._container = av.open(str(self.path))
            if not self._container.streams.video:
                raise InputError(f"{self.path.name} has no video stream")
            self._stream = self._container.streams.video[0]
            self._stream.thread_type = "AUTO"
            packets = []  # (pts, key frame, corrupt, byte position, size) in file order
            for packet in self._container.demux(self._stream):
                if packet.pts is not None and packet.size > 0:
                    packets.append((int(packet.pts), bool(packet.is_keyframe),
                                    bool(packet.is_corrupt), packet.pos, packet.size))  # fmt: skip
            self.notes: list[str] = []
            self.undecodable: set[int] = set()  # blank frames: lost or not decodable
            self.why: dict[int, str] = {}
            packets = self._index(packets)
            if not packets:
                raise InputError(f"{self.path.name} holds no video frames")
            order = np.argsort([p[0] for p in packets])
            self._pts = np.asarray([p[0] for p in packets], np.int64)[order]
            self._key = np.asarray([p[1] for p in packets], bool)[order]
            self._corrupt = np.asarray([p[2] for p in packets], bool)[order]
            self._pos = np.asarray([p[3] if p[3] is not None else -1 for p in packets])[order]
            self._size = np.asarray([p[4] for p in packets], np.int64)[order]
            self._slots = self._place(packets, order)  # frame -> packet (-1: lost)
            fmt = self._stream.codec_context.pix_fmt or ""
            self._format = "gray16le" if fmt.startswith("gray16") else "gray"
            self._decoder = None
            self._next = -1
            self._pending = None  # (pts, frame) decoded past a frame the decoder skipped
            self._raw = self._raw_decoder()  # damaged intra-only file: decode packets by bytes
            first = self._decode_raw(0) if self._raw is not None else self._decode(0)
        except InputError:
            self.close()
            raise
        except Exception as exc:  # av.error.* (InvalidDataError, ...), decoder failures
            self.close()
            raise InputError(
                f"{self.path.name} cannot be decoded as a video ({type(exc).__name__}: {exc})"
            ) from None
        self.shape = (len(self._slots), *first.shape)
        self.dtype = first.dtype
        rate = self._stream.average_rate or self._stream.guessed_rate
        self.fps = float(rate) if rate else None
        self.codec = self._stream.codec_context.name
        self._check_count()

    # --- the frame index of a (possibly damaged) file --------------------------------------
    def _index(self, packets: list) -> list:
        """Drop the cut-off packets at the end of the file (a truncated copy's last frame)."""
        dropped = 0
        while packets and packets[-1][2]:
            packets.pop()
            dropped += 1
        if dropped:
            self.notes.append(
                f"WARNING: {self.path.name}: the last {dropped} frame(s) are cut off (the file "
                "ends inside them): left out, not shown half-decoded"
            )
        bad = [i for i, p in enumerate(packets) if p[2]]
        if bad:
            self.notes.append(f"WARNING: {self.path.name}: {len(bad)} frame(s) are damaged in the "
                              "file: shown blank, and the segmentation skips them")  # fmt: skip
        return packets

    def declared_frames(self) -> int | None:
        """How many frames the container says it holds (header count, else duration x rate)."""
        if self._stream.frames and self._stream.frames > 0:
            return int(self._stream.frames)
        rate = self._stream.average_rate or self._stream.guessed_rate
        if self._stream.duration and self._stream.time_base and rate:
            return round(float(self._stream.duration * self._stream.time_base * rate))
        return None

    def _place(self, packets: list, order: np.ndarray) -> np.ndarray:
        """Frame -> packet index (pts order); frames lost in a skipped stretch of bytes are
        put back (-1) where the gap is, when its size accounts for the missing count."""
        n = len(packets)
        slots = np.arange(n)
        declared = self.declared_frames()
        missing = (declared or 0) - n
        pos = np.array([p[3] if p[3] is not None else -1 for p in packets], np.int64)
        if missing <= 0 or n < 3 or (pos < 0).any() or len(self._container.streams) != 1:
            return slots
        size = np.array([p[4] for p in packets], np.int64)
        stride = float(np.median(np.diff(pos)))
        gap = pos[1:] - pos[:-1] - size[:-1]  # bytes between a packet's end and the next
        at = np.flatnonzero(gap > max(0.5 * stride, GAP_BYTES))
        if len(at) == 0 or stride <= 0:
            return slots
        lost = np.maximum(1, np.rint(gap[at] / stride).astype(int))
        if len(at) == 1 and abs(lost[0] - missing) <= max(1, 0.1 * missing):
            lost[0] = missing
        rank = np.empty(n, int)
        rank[order] = np.arange(n)  # file order -> pts order
        after = np.maximum.accumulate(rank)[at]  # the gap follows this frame (pts order)
        if lost.sum() != missing:
            self.notes.append(
                f"WARNING: {self.path.name}: a damaged stretch of the file after frame "
                f"{int(after[0])} was skipped; the frames after it may be shifted earlier in "
                "time (their numbers no longer match the stage log or the imaging)"
            )
            return slots
        out: list[int] = []
        for k in range(n):
            out.append(k)
            out.extend([-1] * int(lost[after == k].sum()))
        slots = np.asarray(out)
        where = [int(i) for i in np.flatnonzero(slots < 0)]
        self.undecodable.update(where)
        self.notes.append(
            f"WARNING: {self.path.name}: a damaged stretch of the file was skipped: frames "
            f"{frame_ranges(where, limit=None)} are lost and shown blank, so the later frames keep their "
            "numbers and times"
        )
        return slots

    def _raw_decoder(self):
        """For a damaged file whose frames are all key frames (Motion-JPEG): a decoder fed each
        packet's bytes from the file, so no seek is needed. An AVI demuxer numbers the frames
        it finds when reading on, but seeks by the file's index: after a damaged stretch the
        two disagree and a seek lands a frame off. None for intact files and other codecs."""
        damaged = bool(self.notes) or len(self._slots) != len(self._pts)
        if not damaged or not self._key.all() or (self._pos < 0).any():
            return None
        import av

        codec = av.CodecContext.create(self._stream.codec_context.name, "r")
        if self._stream.codec_context.extradata:
            codec.extradata = self._stream.codec_context.extradata
        self._file = open(self.path, "rb")  # closed in close()
        return codec

    def _decode_raw(self, index: int) -> np.ndarray:
        """Packet `index`'s frame decoded from its own bytes (intra-only, `_raw_decoder`)."""
        import av

        self._file.seek(int(self._pos[index]))
        data = self._file.read(int(self._size[index]))
        if self._raw.name == "mjpeg" and b"\xff\xd9" not in data:
            raise _Skipped  # the JPEG lost its end (no EOI marker): it would decode half-grey
        frames = self._raw.decode(av.Packet(data))
        if not frames:
            raise _Skipped
        return frames[-1].to_ndarray(format=self._format)

    def _check_count(self) -> None:
        declared = self.declared_frames()
        if declared is not None and abs(declared - len(self._slots)) > 1:
            self.notes.insert(0,
                f"WARNING: {self.path.name}: {len(self._slots)} frames could be read of the "
                f"{declared} the file declares (truncated or damaged file)")  # fmt: skip

    @property
    def ndim(self) -> int:
        return 3

    def __len__(self) -> int:
        return self.shape[0]

    def _decode(self, index: int) -> np.ndarray:
        """Packet `index`'s frame: continue decoding when sequential, else seek to a key frame
        first. A frame the decoder skips (its data could not be decoded) raises _Skipped."""
        target = int(self._pts[index])
        if self._pending is not None and index == self._next:
            pts, arr = self._pending
            if pts == target:
                self._pending = None
                self._next = index + 1
                return arr
            if pts > target:  # the decoder went past this one too
                self._next = index + 1
                raise _Skipped
        if self._decoder is None or index != self._next:
            self._pending = None
            key = (
                int(np.nonzero(self._key[: index + 1])[0][-1])
                if self._key[: index + 1].any()
                else 0
            )
            self._container.seek(int(self._pts[key]), stream=self._stream, backward=True,
                                 any_frame=False)  # fmt: skip
            self._decoder = self._container.decode(self._stream)
        for frame in self._decoder:
            if frame.pts is None or frame.pts < target:
                continue
            arr = frame.to_ndarray(format=self._format)
            self._next = index + 1
            if frame.pts > target:  # the wanted frame was dropped by the decoder
                self._pending = (int(frame.pts), arr)
                raise _Skipped
            return arr
        self._decoder = None
        raise _Skipped

    def frame(self, index: int) -> np.ndarray:
        """Frame `index` (T, ...); a lost or undecodable frame is blank (zeros), recorded in
        `undecodable` (and why in `why`)."""
        index = int(index)
        if index < 0:
            index += self.shape[0]
        if not 0 <= index < self.shape[0]:
            raise IndexError(f"frame {index} outside 0..{self.shape[0] - 1}")
        slot = int(self._slots[index])
        if slot < 0:
            return np.zeros(self.shape[1:], self.dtype)
        with self._lock:
            why = ""
            if self._corrupt[slot]:
                why = "damaged in the file"
            else:
                try:
                    if self._raw is not None:
                        return self._decode_raw(slot)
                    return self._decode(slot)
                except _Skipped:
                    why = "the decoder skipped it"
                except Exception as exc:  # av.error.*: the decoder state is unknown now
                    self._decoder, self._pending = None, None
                    why = type(exc).__name__
            self.undecodable.add(index)
            self.why[index] = why
            return np.zeros(self.shape[1:], self.dtype)

    def __getitem__(self, key):
        """Numpy-style indexing on (T, Y, X); used by dask (one frame per chunk)."""
        if not isinstance(key, tuple):
            key = (key,)
        t, rest = key[0], key[1:]
        if isinstance(t, int | np.integer):
            return self.frame(int(t))[rest] if rest else self.frame(int(t))
        idx = range(*t.indices(self.shape[0])) if isinstance(t, slice) else list(t)
        frames = [self.frame(i) for i in idx]
        out = np.stack(frames) if frames else np.zeros((0, *self.shape[1:]), self.dtype)
        return out[(slice(None), *rest)] if rest else out

    def close(self) -> None:
        container = getattr(self, "_container", None)
        if container is not None:
            container.close()
            self._container = None
        raw = getattr(self, "_file", None)
        if raw is not None:
            raw.close()
            self._file = None


class _Skipped(Exception):
    """The decoder gave no picture for a frame (its data cannot be decoded)."""


def open_video(path: str | os.PathLike):
    """A lazy `RawStack` (T, Y, X) dask array over a video file, for `open_recording`.

    The reader is inlined into each frame's task (`inline_array=True`): with it as one shared
    graph key, computing one frame of a 20,000-frame video went through the whole graph, 16-56
    ms a frame where the reader decodes one in 0.6 ms (napari's time slider, a frame at a time)."""
    import dask.array as da

    from napari_catrack.io.tiff import RawStack

    reader = VideoReader(path)
    data = da.from_array(reader, chunks=(1, *reader.shape[1:]), asarray=False, fancy=False,
                         inline_array=True,
                         name=f"video-{Path(path).name}-{os.path.getmtime(path)}")  # fmt: skip
    meta = {"format": f"video ({reader.codec})", "shape": reader.shape, "dtype": str(reader.dtype),
            "notes": list(reader.notes), "undecodable": reader.undecodable}  # fmt: skip
    return RawStack(data, "TYX", reader.fps, None, meta, closers=[reader.close])


def write_video(
    path: str | os.PathLike, frames: np.ndarray, fps: float = 15.0, codec: str = "mjpeg"
) -> Path:
    """Write grayscale uint8 frames (T, Y, X) as a video (default: high-quality Motion-JPEG AVI).

    Used for sample data, tests and the demo; written through a temp file + rename.
    """
    from fractions import Fraction

    import av

    from napari_catrack.io.atomic import atomic_write_path

    frames = np.asarray(frames)
    if frames.ndim != 3 or frames.dtype != np.uint8:
        raise InputError("write_video takes uint8 frames (T, Y, X)")
    path = Path(path)
    with atomic_write_path(path) as tmp:
        with av.open(str(tmp), "w", format=_container_format(path)) as out:
            stream = out.add_stream(codec, rate=Fraction(fps).limit_denominator(1000))
            stream.width, stream.height = frames.shape[2], frames.shape[1]
            stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
            if codec == "mjpeg":  # a behaviour camera's high-quality Motion-JPEG
                stream.bit_rate = int(8 * frames.shape[1] * frames.shape[2] * fps)
            else:
                stream.options = {"crf": "16"}
            for img in frames:
                rgb = np.repeat(img[..., None], 3, axis=2)
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
    return path


def _container_format(path: Path) -> str:
    return {".avi": "avi", ".mp4": "mp4", ".mov": "mov", ".mkv": "matroska"}.get(
        path.suffix.lower(), "avi"
    )
