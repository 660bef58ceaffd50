"""Behaviour videos (AVI, MP4, MOV, MKV ...) read lazily, frame by frame, with PyAV.

Opening a video reads its packet index (no decoding) and decodes the first frame only; a frame
is decoded when asked for. Sequential reads continue the running decoder; a jump seeks to the
key frame before the wanted one and decodes forward (every frame of a Motion-JPEG AVI, the
usual behaviour-camera format, is a key frame, so jumps there are cheap). Colour videos are
read as luma (grayscale), 16-bit gray codecs (FFV1) keep their 16 bits.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from napari_catrack.errors import InputError

VIDEO_SUFFIXES = (".avi", ".mp4", ".mov", ".mkv", ".m4v", ".wmv", ".mpg", ".mpeg", ".webm")


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
            pts = []
            keys = []
            for packet in self._container.demux(self._stream):
                if packet.pts is not None and packet.size > 0:
                    pts.append(int(packet.pts))
                    keys.append(bool(packet.is_keyframe))
            if not pts:
                raise InputError(f"{self.path.name} holds no video frames")
            order = np.argsort(pts)
            self._pts = np.asarray(pts, np.int64)[order]
            self._key = np.asarray(keys, bool)[order]
            fmt = self._stream.codec_context.pix_fmt or ""
            self._format = "gray16le" if fmt.startswith("gray16") else "gray"
            self._decoder = None
            self._next = -1
            first = self._decode(0)
        except InputError:
            self.close()
            raise
        except Exception as exc:  # av.error.* (InvalidDataError, ...), decoder failures
            self.close()
            raise InputError(
                f"{self.path.name} cannot be decoded as a video ({type(exc).__name__}: {exc})"
            ) from None
        self.shape = (len(self._pts), *first.shape)
        self.dtype = first.dtype
        rate = self._stream.average_rate or self._stream.guessed_rate
        self.fps = float(rate) if rate else None
        self.codec = self._stream.codec_context.name

    @property
    def ndim(self) -> int:
        return 3

    def __len__(self) -> int:
        return self.shape[0]

    def _decode(self, index: int) -> np.ndarray:
        """Frame `index`: continue decoding when sequential, else seek to a key frame first."""
        target = int(self._pts[index])
        if self._decoder is None or index != self._next:
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
            self._next = index + 1
            return frame.to_ndarray(format=self._format)
        self._decoder = None
        raise InputError(f"{self.path.name}: frame {index} cannot be decoded (file truncated?)")

    def frame(self, index: int) -> np.ndarray:
        index = int(index)
        if index < 0:
            index += self.shape[0]
        if not 0 <= index < self.shape[0]:
            raise IndexError(f"frame {index} outside 0..{self.shape[0] - 1}")
        with self._lock:
            try:
                return self._decode(index)
            except InputError:
                raise
            except Exception as exc:
                self._decoder = None
                raise InputError(
                    f"{self.path.name}: frame {index} cannot be decoded ({type(exc).__name__})"
                ) from None

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


def open_video(path: str | os.PathLike):
    """A lazy `RawStack` (T, Y, X) dask array over a video file, for `open_recording`."""
    import dask.array as da

    from napari_catrack.io.tiff import RawStack

    reader = VideoReader(path)
    data = da.from_array(reader, chunks=(1, *reader.shape[1:]), asarray=False, fancy=False,
                         name=f"video-{Path(path).name}-{os.path.getmtime(path)}")  # fmt: skip
    meta = {"format": f"video ({reader.codec})", "shape": reader.shape, "dtype": str(reader.dtype)}
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
