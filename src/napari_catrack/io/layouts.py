"""Turn a raw N-D array with named axes into green (activity) and red (structural) (T, Y, X) movies.

Channel layouts seen in practice: a channel axis, side-by-side or stacked camera halves (dual-view
splitters), and alternating frames (sequential excitation). Everything stays lazy (dask).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from napari_catrack.errors import InputError

if TYPE_CHECKING:  # dask is imported where it is used: the CLI reads LAYOUTS at start-up
    import dask.array as da

#: Layout names accepted everywhere (CLI `--layout`, widget, session). Halves are named green first.
LAYOUTS = (
    "single",
    "channel-axis",
    "left-right",
    "right-left",
    "top-bottom",
    "bottom-top",
    "interleaved",
)
SPLIT_LAYOUTS = ("left-right", "right-left", "top-bottom", "bottom-top")
_SYNONYMS = {
    "I": "T",
    "Q": "T",
    "S": "C",
    "E": "C",
    "R": "T",
}  # tifffile letters for series/samples


@dataclass
class Channels:
    green: da.Array | np.ndarray  # numpy only with split_channels(keep_numpy=True)
    red: da.Array | np.ndarray | None
    layout: str
    axes: str  # the normalised axes of the input, e.g. "TCYX"
    notes: list[str]


def normalise_axes(axes: str, shape: tuple[int, ...]) -> str:
    """Map reader-specific axis letters onto T, Z, C, Y, X; refuse what cannot be interpreted."""
    axes = axes.upper()
    if len(axes) != len(shape):
        raise InputError(f"axes {axes!r} do not match data shape {shape}")
    out = [_SYNONYMS.get(letter, letter) for letter in axes]
    for i, (letter, size) in enumerate(zip(out, shape)):
        if size == 1 and (letter not in "TZCYX" or out.count(letter) > 1):
            out[i] = "_"  # a length-1 axis that means nothing here
    result = "".join(out)
    for letter, size in zip(result, shape):
        if letter not in "TZCYX_":
            raise InputError(
                f"cannot interpret axis {letter!r} of size {size} in axes {axes!r}; "
                "expected time (T), depth (Z), channel (C), Y and X"
            )
    named = result.replace("_", "")
    if len(set(named)) != len(named):
        repeated = {letter for letter in named if named.count(letter) > 1}
        if any(_SYNONYMS.get(a) in repeated for a in axes if a in "QIR"):
            # tifffile's letters for unnamed axes (a plain `tifffile.imwrite(array)`): nothing
            # in the file says which is time, depth or channel, and a guess could swap them
            raise InputError(
                f"the file does not name its axes (read as {axes!r}, shape {tuple(shape)}); "
                "give them in the file's order with --axes (the loader's 'axes' field), letters "
                "T (time), Z (depth), C (channel), Y and X, e.g. TCYX for a two-channel movie"
            )
        raise InputError(f"axes {axes!r} repeat an axis")
    if "Y" not in result or "X" not in result:
        raise InputError(f"axes {axes!r} have no Y and X image axes")
    return result


def guess_axes(shape: tuple[int, ...]) -> tuple[str, bool]:
    """Axes for unlabelled data; returns (axes, guessed_time_last) so callers can tell the user."""
    ndim = len(shape)
    if ndim == 2:
        return "YX", False
    if ndim == 3:
        # A (Y, X, T) stack (e.g. MATLAB/SIMA exports) has a short last axis next to two image axes.
        if shape[2] * 4 <= min(shape[0], shape[1]):
            return "YXT", True
        return "TYX", False
    if ndim == 4:
        return ("TCYX", False) if shape[1] <= 4 else ("TZYX", False)
    if ndim == 5:
        return "TZCYX", False
    raise InputError(f"cannot guess the axes of {ndim}-D data with shape {shape}; give the axes")


def reduce_depth(
    data: da.Array, axes: str, z_projection: str | int = "max"
) -> tuple[da.Array, str]:
    """Collapse a Z axis (volumes) so the pipeline sees one image per time point."""
    if "Z" not in axes:
        return data, axes
    zi = axes.index("Z")
    nz = data.shape[zi]
    if isinstance(z_projection, int | np.integer):
        if not -nz <= z_projection < nz:
            raise InputError(f"z plane {z_projection} is outside the {nz} planes of this volume")
        import dask.array as da

        data = da.take(data, int(z_projection), axis=zi)
    elif z_projection == "max":
        data = data.max(axis=zi)
    elif z_projection == "mean":
        data = data.mean(axis=zi, dtype=np.float32)
    else:
        raise InputError(f"unknown z projection {z_projection!r}; use max, mean or a plane index")
    return data, axes.replace("Z", "")


def _to_tcyx(data: da.Array, axes: str) -> tuple[da.Array, bool]:
    """Transpose to (T, C, Y, X), adding length-1 axes; returns whether a C axis existed."""
    # Drop unnamed length-1 axes.
    keep = [i for i, a in enumerate(axes) if a in "TCYX"]
    drop = tuple(i for i, a in enumerate(axes) if a not in "TCYX")
    if drop:
        data = data.squeeze(axis=drop)
        axes = "".join(axes[i] for i in keep)
    has_c = "C" in axes
    for letter in "TC":
        if letter not in axes:
            data = data[None]
            axes = letter + axes
    order = [axes.index(a) for a in "TCYX"]
    return data.transpose(order), has_c


def split_channels(
    data: da.Array | np.ndarray,
    axes: str,
    layout: str | None = None,
    *,
    green_channel: int = 0,
    red_channel: int = 1,
    z_projection: str | int = "max",
    require_movie: bool = True,
    keep_numpy: bool = False,
) -> Channels:
    """Apply a channel layout; `layout=None` means: a 2-channel axis if present, else single
    channel, and with 3+ channels the green/red indices pick two (left at their defaults 0 and 1
    they are no choice: the user is asked to set them).

    numpy input becomes dask (one chunk per plane), unless `keep_numpy`: then every step is a
    numpy view (transpose, channel index, halves, alternate frames), so a memory-mapped file
    stays unread. A Z axis still goes through dask (its projection would read the whole file).
    """
    if layout is not None and layout not in LAYOUTS:
        raise InputError(f"unknown channel layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    from napari_catrack.io.lazy import is_dask

    if not is_dask(data) and not (
        keep_numpy and isinstance(data, np.ndarray) and "Z" not in normalise_axes(axes, data.shape)
    ):
        import dask.array as da

        data = da.from_array(data, chunks=_frame_chunks(data.shape, axes))
    given, shape = axes.upper(), data.shape
    axes = normalise_axes(axes, data.shape)
    if require_movie and "T" not in axes:
        raise InputError(
            f"this is a single image ({axes.replace('_', '')}, "
            f"{'x'.join(str(n) for n, a in zip(shape, axes) if a != '_')}), not a movie; a time "
            f"series (T, Y, X) is required{_movie_axes_hint(given, axes, shape)}"
        )
    data, axes = reduce_depth(data, axes, z_projection)
    notes: list[str] = []
    if axes == "TYX" and layout in (None, "single"):
        # one channel as it is: no (T, 1, Y, X) detour, whose added dask layers (a task per
        # frame each) a slider step would cull through (20,000-frame video: 74 -> 2 ms a frame)
        _channel_index(green_channel, 1, "green")
        return Channels(data, None, "single", axes, notes)
    tcyx, _has_c = _to_tcyx(data, axes)
    n_channels = tcyx.shape[1]

    if layout is None:
        if n_channels == 1:
            layout = "single"
        elif n_channels == 2 or (green_channel, red_channel) != (0, 1):
            # 3+ channels: channel indices other than the defaults say which (widget boxes and
            # CLI options alike); the defaults 0 and 1 are no choice
            layout = "channel-axis"
        else:
            raise InputError(
                f"{n_channels} channels found (numbered {_channel_range(n_channels)}); say which are "
                "green and red: set the green and red channel indices (e.g. green "
                f"{n_channels - 1}, red 0), or choose layout channel-axis to use channels 0 and 1"
            )

    def channel(i: int, role: str) -> da.Array:
        return tcyx[:, _channel_index(i, n_channels, role)]

    if layout == "single":
        return Channels(channel(green_channel, "green"), None, layout, axes, notes)
    if layout == "channel-axis":
        if n_channels < 2:
            raise InputError("layout channel-axis needs a channel axis with 2+ channels; found 1")
        green_i = _channel_index(green_channel, n_channels, "green")
        if green_i == _channel_index(red_channel, n_channels, "red"):
            # the red index keeps its default 1 when only green is set (a manifest's
            # `green_channel: 1`): say which value red takes
            other = [i for i in range(n_channels) if i != green_i]
            hint = f"; set the red channel index too (e.g. {other[0]})" if other else ""
            raise InputError(
                f"green and red channel indices ({green_channel}, {red_channel}) name the same "
                f"channel{hint}"
            )
        return Channels(
            channel(green_channel, "green"), channel(red_channel, "red"), layout, axes, notes
        )
    if n_channels != 1:
        what = "alternates frames" if layout == "interleaved" else "splits one image into halves"
        raise InputError(
            f"layout {layout} {what}, but the data already has {n_channels} channels; "
            "use layout channel-axis"
        )
    movie = tcyx[:, 0]
    if layout == "interleaved":
        n = movie.shape[0]
        if n < 2:
            raise InputError("interleaved layout needs at least two frames")
        if n % 2:
            notes.append(f"odd frame count {n}: the last frame was dropped")
            movie = movie[: n - 1]
        notes.append("interleaved: each channel has half the file's frame rate")
        first, second = movie[0::2], movie[1::2]
        one, why = looks_like_one_channel(first, second)
        if one:
            notes.append(
                f"WARNING: the even and odd frames look like ONE channel ({why}); if this is a "
                "one-channel movie, open it with layout single"
            )
        green, red = (first, second) if green_channel <= red_channel else (second, first)
        return Channels(green, red, layout, axes, notes)
    axis = -1 if layout in ("left-right", "right-left") else -2
    size = movie.shape[axis]
    if size % 2:
        dim = "width" if axis == -1 else "height"
        raise InputError(f"{dim} {size} is odd: cannot split it into two equal halves ({layout})")
    half = size // 2
    a = movie[..., :half] if axis == -1 else movie[..., :half, :]
    b = movie[..., half:] if axis == -1 else movie[..., half:, :]
    green, red = (a, b) if layout in ("left-right", "top-bottom") else (b, a)
    return Channels(green, red, layout, axes, notes)


def _movie_axes_hint(given: str, axes: str, shape: tuple[int, ...]) -> str:
    """For a stack without a time axis: the axes that read its longest channel or depth axis
    as time (ImageJ files saved without frame information often label their frames C or Z)."""
    stacked = [i for i, a in enumerate(axes) if a in "CZ"]
    if not stacked:
        return ""
    i = max(stacked, key=lambda k: shape[k])
    what = "channels" if axes[i] == "C" else "planes"
    movie = f"{given[:i]}T{given[i + 1 :]}"
    hint = f"; if its {shape[i]} {what} are frames, open it with axes {movie} (--axes {movie})"
    if "Z" in axes:  # one volume at one time point (e.g. a targettrack head volume)
        hint += (
            f"; if it is one volume at one time point, save it with a leading axis of length 1 "
            f"(array[None]) and open it with axes T{given} (--axes T{given})"
        )
    return hint


def looks_like_one_channel(first, second, n_pairs: int = 6) -> tuple[bool, str]:
    """Whether alternate frames (`first` = even, `second` = odd) are one channel split in two.

    Reads `2 * n_pairs + 1`-ish frames. Two true channels differ in brightness or structure, so
    an even frame correlates better with the next even frame (same channel, two frames later)
    than with the odd frame beside it. One channel split in two has the same brightness in both
    halves and its neighbouring frames correlate at least as well: both must hold to say so.
    Returns (verdict, the numbers behind it).
    """
    n = min(first.shape[0], second.shape[0]) - 1
    if n < 1:
        return False, "too few frames to tell"
    idx = np.unique(np.linspace(0, n - 1, min(n_pairs, n)).round().astype(int))
    across, along, ratio = [], [], []
    for i in idx:
        a = np.asarray(first[i], np.float64).ravel()
        b = np.asarray(second[i], np.float64).ravel()
        c = np.asarray(first[i + 1], np.float64).ravel()
        if a.std() == 0 or b.std() == 0 or c.std() == 0:
            continue
        across.append(np.corrcoef(a, b)[0, 1])
        along.append(np.corrcoef(a, c)[0, 1])
        ratio.append(b.mean() / a.mean() if a.mean() else np.inf)
    if not across:
        return False, "blank frames"
    r_ab, r_ac, bright = float(np.median(across)), float(np.median(along)), float(np.median(ratio))
    one = r_ab >= r_ac - 0.02 and 0.9 <= bright <= 1.1
    why = (
        f"even-odd correlation {r_ab:.2f} vs even-even {r_ac:.2f}, odd/even brightness {bright:.2f}"
    )
    return one, why


def _channel_index(i: int, n_channels: int, role: str) -> int:
    """-1 means the last channel, as in numpy; normalised so equal channels are caught."""
    if not -n_channels <= i < n_channels:
        raise InputError(
            f"{role} channel {i} does not exist: the data has {n_channels} channel(s), "
            f"numbered {_channel_range(n_channels)}"
        )
    return i % n_channels


def _channel_range(n_channels: int) -> str:
    """The valid indices in words, for messages that ask for a channel."""
    return "0" if n_channels == 1 else f"0-{n_channels - 1}"


def check_same_shape(green: da.Array, red: da.Array | None) -> None:
    if red is not None and green.shape != red.shape:
        raise InputError(
            f"green {tuple(green.shape)} and red {tuple(red.shape)} channels differ in shape"
        )


def _frame_chunks(shape: tuple[int, ...], axes: str) -> tuple[int, ...]:
    """One chunk per image plane: what napari and frame-wise processing read."""
    return tuple(s if a in "YX" else 1 for a, s in zip(axes.upper(), shape))
