"""The puncta network: a shared U-Net encoder (16 base channels) with a DECODE-style
localisation head and a calcium head.

Input, per frame t (6 channels, normalised as in `inputs.py`): puncta t-1, t, t+1 (DECODE's
temporal context, which helps dim puncta), calcium t, calcium's local baseline (the median of the
surrounding frames) and the local excess of the calcium change (disk minus ring, in noise units),
so a local rise is visible to the calcium head and a diffuse one is not. (Models of format 1 had
the first 5 channels; they still load and run.)

Localisation head, per pixel (DECODE, Speiser et al. 2021, Nat. Methods 18:1082): detection
logit; sub-pixel offsets dx, dy; photons; PSF width; background; and the standard deviations of
x, y and photons (the uncertainties DECODE's Gaussian-mixture loss trains). Calcium head: per
pixel logit of "a calcium signal at a punctum here", read at each localisation; it takes the
shared features plus the calcium change (frame minus baseline) and its local excess, so it can
learn the call even from an encoder pre-trained for localisation only (phase 2 trains it alone).

The reported position uncertainty is the head's standard deviation recalibrated after training
on held-out simulated movies (`calibrate.py`): sd' = sqrt(a^2 sd^2 (1 + c sqrt(rho)) + b^2), with
rho the movie's localisations per pixel and frame; a, b and c in the config (models calibrated
before c existed load with c = 0).

Models are data: `state_dict` (.pt, loaded with weights_only=True) + a JSON config beside it.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from napari_catrack.errors import InputError
from napari_catrack.io.atomic import atomic_write_path, write_text_atomic
from napari_catrack.io.weights import fit_weights, read_weights

FORMAT = "napari-catrack puncta network"
FORMAT_VERSION = 2
LOC_CHANNELS = 9  # logit, dx, dy, photons, sigma, bg, sd_x, sd_y, sd_photons
SHIPPED = Path(__file__).resolve().parents[2] / "models" / "puncta_net.json"


@dataclass(frozen=True)
class NetConfig:
    base_channels: int = 16
    depth: int = 2  # poolings in the encoder
    photon_scale: float = 100.0  # network photons x this = photons in normalised units
    in_channels: int = 6  # 5: format-1 models (no calcium-excess channel)
    excess_radius_px: float = 2.3  # disk radius of the calcium-excess channel
    uncertainty_scale: float = 1.0  # a: calibrated sd = sqrt(a^2 sd^2 (1 + c sqrt(rho)) + b^2)
    uncertainty_floor_px: float = 0.0  # b
    uncertainty_crowding_px: float = 0.0  # c (px: sqrt(rho) is 1 / the puncta's mean spacing)
    meta: dict = field(default_factory=dict)  # training provenance (command, seed, losses)

    def check(self) -> None:
        if not (
            4 <= self.base_channels <= 128 and 1 <= self.depth <= 4
        ) or self.in_channels not in (5, 6):
            raise InputError(f"unusable puncta network config: {self}")


@functools.cache
def _torch():
    from napari_catrack.optional import require

    return require("torch", "the puncta network")


def _build_classes():
    torch = _torch()
    nn = torch.nn

    def block(cin: int, cout: int):
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1), nn.ELU(),
            nn.Conv2d(cout, cout, 3, padding=1), nn.ELU(),
        )  # fmt: skip

    class UNet(nn.Module):
        """Encoder-decoder with skip connections; output has `base` channels at full size."""

        def __init__(self, cin: int, base: int, depth: int) -> None:
            super().__init__()
            widths = [base * 2**i for i in range(depth + 1)]
            self.down = nn.ModuleList([block(cin, widths[0])])
            self.down.extend(block(widths[i], widths[i + 1]) for i in range(depth))
            self.up = nn.ModuleList(
                nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2)
                for i in reversed(range(depth))
            )
            self.merge = nn.ModuleList(
                block(2 * widths[i], widths[i]) for i in reversed(range(depth))
            )

        def forward(self, x):
            skips = []
            for i, layer in enumerate(self.down):
                if i:
                    x = torch.nn.functional.max_pool2d(x, 2)
                x = layer(x)
                skips.append(x)
            for up, merge, skip in zip(self.up, self.merge, reversed(skips[:-1])):
                x = merge(torch.cat([up(x), skip], dim=1))
            return x

    class PunctaNet(nn.Module):
        def __init__(self, config: NetConfig) -> None:
            super().__init__()
            config.check()
            self.config = config
            b = config.base_channels
            self.encoder = UNet(config.in_channels, b, config.depth)  # shared by both heads
            self.loc_head = nn.Sequential(
                nn.Conv2d(b, b, 3, padding=1), nn.ELU(), nn.Conv2d(b, LOC_CHANNELS, 1)
            )
            # the calcium head also sees the calcium change (frame - baseline) directly, through
            # dilated convolutions (receptive field 15 px: a spot and the ring around it)
            extra = config.in_channels - 4  # the change, and the excess when given
            self.calcium_head = nn.Sequential(
                nn.Conv2d(b + extra, b, 3, padding=1), nn.ELU(),
                nn.Conv2d(b, b, 3, padding=2, dilation=2), nn.ELU(),
                nn.Conv2d(b, b, 3, padding=4, dilation=4), nn.ELU(),
                nn.Conv2d(b, 1, 1),
            )  # fmt: skip

        def forward(self, x):
            """x (B, C, H, W), H and W divisible by 2**depth -> dict of (B, H, W) maps."""
            f = self.encoder(x)
            o = self.loc_head(f)
            sp = torch.nn.functional.softplus
            return {
                "logit": o[:, 0],
                "dx": torch.tanh(o[:, 1]),  # px, relative to the pixel centre
                "dy": torch.tanh(o[:, 2]),
                "photons": sp(o[:, 3]),  # normalised photons / photon_scale
                "sigma": sp(o[:, 4]) + 0.3,  # px
                "background": o[:, 5],  # normalised
                "sd_x": sp(o[:, 6]) + 1e-3,
                "sd_y": sp(o[:, 7]) + 1e-3,
                "sd_photons": sp(o[:, 8]) + 1e-3,
                "calcium_logit": self.calcium_head(
                    torch.cat([f, x[:, 3:4] - x[:, 4:5], x[:, 5:]], 1)
                )[:, 0],
            }

        def describe(self) -> dict:
            n = sum(p.numel() for p in self.parameters())
            return {"parameters": int(n), **asdict(self.config)}

    return PunctaNet


def make_network(config: NetConfig | None = None):
    """A new (untrained) network."""
    return _build_classes()(config or NetConfig())


def save_model(net, path: str | os.PathLike, weights: bool = True) -> Path:
    """Write `path` (.json config + provenance) and its `.pt` state_dict beside it, atomically
    (`weights=False`: the config only, for a model whose weights are already there)."""
    torch = _torch()
    path = Path(path).with_suffix(".json")
    if weights:
        with atomic_write_path(path.with_suffix(".pt")) as tmp:
            torch.save({k: v.detach().cpu() for k, v in net.state_dict().items()}, tmp)
    doc = {"format": FORMAT, "format_version": FORMAT_VERSION, "weights": path.with_suffix(".pt").name,
           "config": asdict(net.config)}  # fmt: skip
    write_text_atomic(path, json.dumps(doc, indent=2, default=float) + "\n")
    return path


def load_model(path: str | os.PathLike):
    """Load a network written by `save_model` (weights read with weights_only=True)."""
    _torch()  # torch installed, or one line saying how to install it
    path = Path(path)
    if path.suffix == ".pt":
        path = path.with_suffix(".json")
    if not path.is_file():
        raise InputError(f"no puncta network at {path} (expected a .json beside its .pt)")
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not a puncta network file: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InputError(f"{path} is not a napari-catrack puncta network")
    if int(doc.get("format_version", 0)) > FORMAT_VERSION:
        raise InputError(f"{path} was written by a newer napari-catrack; please upgrade")
    try:
        config = NetConfig(**{"in_channels": 5, **doc["config"]})  # format 1 had 5 inputs
    except (KeyError, TypeError) as exc:
        raise InputError(f"{path} has no usable config: {exc}") from None
    weights = path.parent / doc.get("weights", path.with_suffix(".pt").name)
    if not weights.is_file():
        raise InputError(f"the weights of {path} are missing: {weights}")
    state = read_weights(weights, str(weights), "the weights of a puncta network")
    net = make_network(config)
    fit_weights(net, state, str(weights))
    net.eval()
    net.source = str(path)  # what a warning about it names (`model_quality`)
    return net


#: how the user sets the threshold and the classical method in the model's warning: the command
#: line's options (the puncta widget passes its own fields' names, `quality_warning`)
CLI_NAMES = {"min_jaccard": "--model-min-jaccard", "classical": "--method mle"}


def model_quality(net, min_jaccard: float) -> dict:
    """What the model says of its own quality: the Jaccard it recorded on held-out simulated clips
    when it was trained (or recalibrated: `calibrate.py`), and a warning when that is below
    `min_jaccard` (`PunctaParams.model_min_jaccard`) or when it records none. The puncta step
    says the warning and stores this dict in its provenance (`model_info["quality"]`), with the
    model's name (`model`) that `quality_warning` says it again with."""
    meta = net.config.meta or {}
    calibration = meta.get("calibration") or {}
    source = getattr(net, "source", None)
    name = "the shipped puncta network" if source == str(SHIPPED) else (
        f"the puncta network {source}" if source else "the puncta network")  # fmt: skip
    jaccard = calibration.get("jaccard") if int(calibration.get("clips") or 0) > 0 else None
    quality = {"validation_jaccard": None if jaccard is None else float(jaccard),
               "validation_clips": int(calibration.get("clips") or 0),
               "min_jaccard": float(min_jaccard), "poor": False, "warning": "",
               "model": name}  # fmt: skip
    quality["poor"] = jaccard is None or jaccard < min_jaccard
    quality["warning"] = quality_warning(quality)
    return quality


def quality_warning(quality: dict, names: dict[str, str] | None = None) -> str:
    """The warning of a `model_quality` dict ("" for a model good enough), naming the settings
    as `names` says (`CLI_NAMES` by default; the puncta widget gives its fields' names: it said
    --model-min-jaccard and --method mle, which it has no boxes of, h21 leftover). The training
    commands it names (`catrack train-puncta`) have no widget."""
    names = {**CLI_NAMES, **(names or {})}
    if not quality.get("poor"):
        return ""
    name = quality.get("model") or "the puncta network"  # (stored since h22)
    jaccard = quality.get("validation_jaccard")
    if jaccard is None:
        return (
            f"{name} records no validation quality (trained with --calibration-clips 0, or not "
            "by catrack train-puncta): nothing says how well it localises; measure it with "
            "`catrack train-puncta --recalibrate --calibration-clips 48 -o MODEL.json`, or "
            "check it on the puncta sample against its ground truth"
        )
    clips = int(quality.get("validation_clips") or 0)
    shipped = _shipped_jaccard()
    than = f"; the shipped network {shipped:.2f}" if shipped is not None else ""
    return (
        f"{name} is barely trained: it recorded Jaccard {jaccard:.2f} on {clips} held-out "
        f"simulated clip{'s' if clips != 1 else ''} when it was trained (below "
        f"{quality['min_jaccard']:g}, {names['min_jaccard']}{than}): many of its localisations "
        "and calcium calls may be wrong; train it longer, or use the shipped network or "
        f"{names['classical']}"
    )


@functools.cache
def _shipped_jaccard() -> float | None:
    """The validation Jaccard the shipped model recorded (read from its JSON, no torch)."""
    try:
        doc = json.loads(SHIPPED.read_text(encoding="utf-8"))
        return float(doc["config"]["meta"]["calibration"]["jaccard"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


@functools.cache
def shipped_model():
    """The network shipped with the package (trained on the simulator; see docs/puncta.md)."""
    if not SHIPPED.is_file():
        raise InputError(f"the shipped puncta network is missing: {SHIPPED}")
    return load_model(SHIPPED)
