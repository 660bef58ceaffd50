"""Segment Anything for worms: checkpoints, loading, device, and the per-frame segmenter.

- The official checkpoints (vit_b / vit_l / vit_h) with their SHA256 are listed in
  `CHECKPOINTS`; `download_checkpoint` fetches one through pooch into the user cache folder
  (verified), and says clearly what to do when the machine is offline.
- `load_sam` reads any SAM state dict with `torch.load(weights_only=True)` and builds the
  architecture from the tensors' shapes (depth, width, window, image size), so the official
  models and smaller ones trained or built elsewhere load through the same code. A file that is
  not a SAM checkpoint is one clear error.
- `SamSegmenter` prompts SAM with points and a box; image embeddings are cached per frame
  (`embeddings.EmbeddingCache`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from napari_catrack.core.behaviour.classical import FrameResult, make_classical
from napari_catrack.core.behaviour.embeddings import EmbeddingCache, default_cache_dir, frame_key
from napari_catrack.core.behaviour.prompts import Prompt, prompt_from_mask
from napari_catrack.errors import InputError

#: The official Segment Anything checkpoints (facebookresearch/segment-anything README).
CHECKPOINTS: dict[str, dict[str, Any]] = {
    "vit_b": {
        "url": "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth",
        "sha256": "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912",
        "dims": (768, 12),
    },
    "vit_l": {
        "url": "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_l_0b3195.pth",
        "sha256": "3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622",
        "dims": (1024, 24),
    },
    "vit_h": {
        "url": "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth",
        "sha256": "a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e",
        "dims": (1280, 32),
    },
}
MODEL_TYPES = tuple(CHECKPOINTS)


def checkpoint_folder() -> Path:
    return default_cache_dir() / "sam-checkpoints"


def cached_checkpoint(model_type: str = "vit_b") -> Path | None:
    """The official checkpoint in the user cache folder, if it was downloaded before."""
    info = CHECKPOINTS.get(model_type)
    if info is None:
        return None
    path = checkpoint_folder() / Path(info["url"]).name
    return path if path.is_file() else None


def download_checkpoint(model_type: str = "vit_b", *, progressbar: bool = False) -> Path:
    """Download (once) and verify an official checkpoint; InputError with what to do offline."""
    import pooch

    if model_type not in CHECKPOINTS:
        raise InputError(f"model type must be one of {', '.join(MODEL_TYPES)}, not {model_type!r}")
    info = CHECKPOINTS[model_type]
    try:
        path = pooch.retrieve(
            info["url"],
            known_hash=f"sha256:{info['sha256']}",
            fname=Path(info["url"]).name,
            path=checkpoint_folder(),
            progressbar=progressbar,
        )
    except Exception as exc:  # no network, proxy, HTTP error, hash mismatch
        raise InputError(
            f"cannot download the SAM {model_type} checkpoint ({type(exc).__name__}: {exc}); "
            f"offline? Download {info['url']} elsewhere and choose the file as the checkpoint, "
            "or use the classical method (no weights needed)"
        ) from None
    return Path(path)


def resolve_device(device: str = "auto") -> str:
    """'auto' -> CUDA when available, else Apple MPS, else CPU; an unavailable choice is an error."""
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        return "mps" if mps is not None and mps.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("device cuda was chosen but PyTorch sees no CUDA GPU; choose cpu")
    if device == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise InputError("device mps was chosen but it is not available; choose cpu")
    if device not in ("cpu", "cuda", "mps"):
        raise InputError(f"device must be auto, cpu, cuda or mps, not {device!r}")
    return device


def available_devices() -> list[str]:
    import torch

    out = ["cpu"]
    if torch.cuda.is_available():
        out.insert(0, "cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        out.insert(0, "mps")
    return out


@dataclass
class LoadedSam:
    """A SAM model ready to predict, and what it is."""

    model: Any  # segment_anything.modeling.Sam
    model_type: str  # vit_b / vit_l / vit_h / custom
    checkpoint: Path
    device: str
    architecture: dict

    @property
    def key(self) -> str:
        """Identity for the embedding cache: file name, size and modification time."""
        st = self.checkpoint.stat()
        raw = f"{self.model_type}-{self.checkpoint.name}-{st.st_size}-{st.st_mtime_ns}"
        return re.sub(r"[^A-Za-z0-9_.-]", "_", raw)


_REQUIRED = (
    "image_encoder.pos_embed",
    "image_encoder.patch_embed.proj.weight",
    "prompt_encoder.point_embeddings.0.weight",
    "mask_decoder.mask_tokens.weight",
)


def read_state_dict(path: str | os.PathLike) -> dict:
    """The tensors of a checkpoint file (weights only: no code is run), checked to be SAM's."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise InputError(f"SAM checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle, zip and unsupported-type errors all mean "not usable"
        raise InputError(
            f"{path.name} is not a PyTorch checkpoint of weights ({type(exc).__name__}); "
            "choose a Segment Anything .pth file"
        ) from None
    if isinstance(state, dict):
        for wrapper in ("model", "state_dict"):
            if wrapper in state and isinstance(state[wrapper], dict):
                state = state[wrapper]
    if not isinstance(state, dict):
        raise InputError(f"{path.name} is not a SAM checkpoint (it holds no state dict)")
    missing = [k for k in _REQUIRED if k not in state]
    if missing:
        raise InputError(
            f"{path.name} is not a Segment Anything checkpoint (no {', '.join(missing[:2])})"
        )
    return state


def architecture(state: dict) -> dict:
    """SAM's hyper-parameters read from the tensor shapes of its state dict."""
    pos = state["image_encoder.pos_embed"]
    embed = int(pos.shape[-1])
    grid = int(pos.shape[1])
    patch = int(state["image_encoder.patch_embed.proj.weight"].shape[-1])
    depth = _count(state, r"image_encoder\.blocks\.(\d+)\.norm1\.weight")
    rel = [state.get(f"image_encoder.blocks.{i}.attn.rel_pos_h") for i in range(depth)]
    use_rel = rel[0] is not None
    head_dim = int(rel[0].shape[1]) if use_rel else 64
    sizes = [(int(r.shape[0]) + 1) // 2 if r is not None else grid for r in rel]
    global_idx = [i for i, s in enumerate(sizes) if s == grid]
    windowed = [s for s in sizes if s != grid]
    dec = "mask_decoder."
    t_dim = int(state[dec + "iou_token.weight"].shape[1])
    q = state[dec + "transformer.layers.0.cross_attn_token_to_image.q_proj.weight"]
    return {
        "img_size": grid * patch,
        "patch_size": patch,
        "embed_dim": embed,
        "depth": depth,
        "num_heads": max(1, embed // head_dim),
        "mlp_ratio": state["image_encoder.blocks.0.mlp.lin1.weight"].shape[0] / embed,
        "use_rel_pos": use_rel,
        "window_size": windowed[0] if windowed else 0,
        "global_attn_indexes": global_idx,
        "out_chans": int(state["image_encoder.neck.0.weight"].shape[0]),
        "prompt_dim": int(state["prompt_encoder.point_embeddings.0.weight"].shape[1]),
        "mask_in_chans": int(state["prompt_encoder.mask_downscaling.3.weight"].shape[0]),
        "decoder_dim": t_dim,
        "decoder_depth": _count(state, r"mask_decoder\.transformer\.layers\.(\d+)\.norm1\.weight"),
        "decoder_mlp": int(state[dec + "transformer.layers.0.mlp.lin1.weight"].shape[0]),
        "decoder_downsample": max(1, t_dim // int(q.shape[0])),
        "decoder_heads": 8,  # not stored in the weights; every published SAM uses 8
        "multimask": int(state[dec + "mask_tokens.weight"].shape[0]) - 1,
        "iou_hidden": int(state[dec + "iou_prediction_head.layers.0.weight"].shape[0]),
        "iou_depth": _count(state, r"mask_decoder\.iou_prediction_head\.layers\.(\d+)\.weight"),
    }


def _count(state: dict, pattern: str) -> int:
    rx = re.compile(pattern)
    found = {int(m.group(1)) for k in state if (m := rx.fullmatch(k))}
    return max(found) + 1 if found else 0


def sam_modeling():
    """`segment_anything.modeling` without running `segment_anything/__init__.py`.

    The package's `__init__` imports its predictor, which imports torchvision, which imports
    torch._dynamo and triton; triton's bundled LLVM crashes a napari process that has already
    loaded Mesa's (software OpenGL, Xvfb). The model classes need only torch, so they are
    loaded on their own under a private name, and `_Predictor` below replaces SamPredictor.
    """
    import importlib.util
    import sys

    if "segment_anything.modeling" in sys.modules:
        return sys.modules["segment_anything.modeling"]
    name = "napari_catrack._segment_anything_modeling"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec("segment_anything")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("Segment Anything is not installed: pip install segment-anything")
    folder = Path(next(iter(spec.submodule_search_locations))) / "modeling"
    mspec = importlib.util.spec_from_file_location(
        name, folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    module = importlib.util.module_from_spec(mspec)
    sys.modules[name] = module
    mspec.loader.exec_module(module)
    return module


def build_sam(arch: dict):
    """A SAM (random weights) with the given hyper-parameters (see `architecture`)."""
    import torch

    mod = sam_modeling()
    ImageEncoderViT, MaskDecoder = mod.ImageEncoderViT, mod.MaskDecoder
    PromptEncoder, Sam, TwoWayTransformer = mod.PromptEncoder, mod.Sam, mod.TwoWayTransformer

    grid = arch["img_size"] // arch["patch_size"]
    return Sam(
        image_encoder=ImageEncoderViT(
            depth=arch["depth"],
            embed_dim=arch["embed_dim"],
            img_size=arch["img_size"],
            mlp_ratio=arch["mlp_ratio"],
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            num_heads=arch["num_heads"],
            patch_size=arch["patch_size"],
            qkv_bias=True,
            use_rel_pos=arch["use_rel_pos"],
            global_attn_indexes=tuple(arch["global_attn_indexes"]),
            window_size=arch["window_size"],
            out_chans=arch["out_chans"],
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=arch["prompt_dim"],
            image_embedding_size=(grid, grid),
            input_image_size=(arch["img_size"], arch["img_size"]),
            mask_in_chans=arch["mask_in_chans"],
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=arch["multimask"],
            transformer=TwoWayTransformer(
                depth=arch["decoder_depth"],
                embedding_dim=arch["decoder_dim"],
                mlp_dim=arch["decoder_mlp"],
                num_heads=arch["decoder_heads"],
                attention_downsample_rate=arch["decoder_downsample"],
            ),
            transformer_dim=arch["decoder_dim"],
            iou_head_depth=arch["iou_depth"],
            iou_head_hidden_dim=arch["iou_hidden"],
        ),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    )


def load_sam(
    checkpoint: str | os.PathLike, model_type: str = "auto", device: str = "auto"
) -> LoadedSam:
    """Load a SAM checkpoint (official or not) onto a device; one clear error if it cannot."""
    state = read_state_dict(checkpoint)
    try:
        arch = architecture(state)
    except (KeyError, IndexError, AttributeError, TypeError) as exc:
        raise InputError(
            f"{Path(checkpoint).name} looks like SAM but its layout is unknown ({exc})"
        ) from None
    found = "custom"
    for name, info in CHECKPOINTS.items():
        if (arch["embed_dim"], arch["depth"]) == info["dims"]:
            found = name
    if model_type not in ("auto", found):
        raise InputError(
            f"{Path(checkpoint).name} holds a {found} model, not {model_type}: choose "
            f"model type {found} or auto"
        )
    model = build_sam(arch)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise InputError(
            f"{Path(checkpoint).name} does not fit the SAM architecture it describes: "
            f"{str(exc).splitlines()[0][:200]}"
        ) from None
    dev = resolve_device(device)
    model.to(dev).eval()
    return LoadedSam(model, found, Path(checkpoint), dev, arch)


class _Predictor:
    """SAM's prompt-to-mask step (the official SamPredictor's maths, with torch only).

    The image is resized so its long side is the encoder's input size (bilinear with
    antialiasing, as SamPredictor's PIL resize), normalised and padded by `Sam.preprocess`;
    prompts are scaled the same way; masks come back at the frame's size.
    """

    def __init__(self, model) -> None:
        self.model = model
        self.features = None
        self.original_size: tuple[int, int] | None = None
        self.input_size: tuple[int, int] | None = None

    def _device(self):
        return next(self.model.parameters()).device

    def preprocess_shape(self, h: int, w: int) -> tuple[int, int]:
        scale = self.model.image_encoder.img_size / max(h, w)
        return int(h * scale + 0.5), int(w * scale + 0.5)

    def set_image(self, rgb: np.ndarray) -> None:
        import torch
        import torch.nn.functional as F

        h, w = rgb.shape[:2]
        new = self.preprocess_shape(h, w)
        x = torch.as_tensor(rgb, device=self._device()).permute(2, 0, 1)[None].float()
        x = F.interpolate(x, size=new, mode="bilinear", align_corners=False, antialias=True)
        x = x.round().clamp(0, 255)
        with torch.inference_mode():
            self.features = self.model.image_encoder(self.model.preprocess(x))
        self.original_size, self.input_size = (h, w), new

    def set_features(self, features: np.ndarray, shape: tuple[int, int]) -> None:
        import torch

        self.features = torch.as_tensor(features, dtype=torch.float32, device=self._device())
        self.original_size = (int(shape[0]), int(shape[1]))
        self.input_size = self.preprocess_shape(*self.original_size)

    def predict(self, points=None, labels=None, box=None):
        """(masks (K, H, W) bool, predicted IoU (K,)) for points (x, y) / box (x0, y0, x1, y1)."""
        import torch

        dev = self._device()
        h, w = self.original_size
        nh, nw = self.input_size
        scale = np.array([nw / w, nh / h], np.float32)
        pts = None
        if points is not None and len(points):
            c = torch.as_tensor(points * scale, dtype=torch.float32, device=dev)[None]
            lab = torch.as_tensor(labels, dtype=torch.int64, device=dev)[None]
            pts = (c, lab)
        boxes = None
        if box is not None:
            boxes = torch.as_tensor(box.reshape(2, 2) * scale, dtype=torch.float32,
                                    device=dev).reshape(1, 4)  # fmt: skip
        m = self.model
        with torch.inference_mode():
            sparse, dense = m.prompt_encoder(points=pts, boxes=boxes, masks=None)
            low, iou = m.mask_decoder(
                image_embeddings=self.features,
                image_pe=m.prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense,
                multimask_output=True,
            )
            masks = m.postprocess_masks(low, self.input_size, self.original_size)
        masks = (masks > m.mask_threshold)[0].cpu().numpy()
        return masks, iou[0].float().cpu().numpy()


class SamSegmenter:
    """Segment Anything prompted per frame; embeddings cached per frame."""

    name = "sam"

    def __init__(self, loaded: LoadedSam, cache: EmbeddingCache | None = None) -> None:
        self.loaded = loaded
        self.predictor = _Predictor(loaded.model)
        self.cache = cache
        self.scale: tuple[float, float] | None = None  # intensity range for 8-bit RGB
        self.info = {
            "model_type": loaded.model_type,
            "checkpoint": loaded.checkpoint.name,
            "device": loaded.device,
        }

    def snapshot(self):
        return self.scale

    def restore(self, state) -> None:
        self.scale = state

    def _rgb(self, frame: np.ndarray) -> np.ndarray:
        frame = np.asarray(frame)
        if frame.dtype == np.uint8:
            g = frame
        else:
            if self.scale is None:
                lo, hi = np.percentile(frame, (0.5, 99.5))
                self.scale = (float(lo), float(max(hi, lo + 1)))
            lo, hi = self.scale
            g = np.clip((frame.astype(np.float32) - lo) * (255.0 / (hi - lo)), 0, 255)
            g = g.astype(np.uint8)
        return np.repeat(g[..., None], 3, axis=2)

    def _set_image(self, rgb: np.ndarray) -> None:
        key = frame_key(rgb)
        cached = self.cache.get(key) if self.cache is not None else None
        if cached is not None:
            self.predictor.set_features(cached, rgb.shape[:2])
            return
        self.predictor.set_image(rgb)
        if self.cache is not None:
            self.cache.put(key, self.predictor.features.detach().cpu().numpy())

    def segment(self, frame: np.ndarray, prompt: Prompt) -> FrameResult:
        if not len(prompt.points) and prompt.box is None and prompt.previous is not None:
            prompt = prompt_from_mask(prompt.previous)
        rgb = self._rgb(frame)
        self._set_image(rgb)
        points = labels = box = None
        if len(prompt.points):
            points = prompt.points[:, ::-1].astype(np.float32)  # SAM wants (x, y)
            labels = prompt.labels.astype(np.int64)
        if prompt.box is not None:
            y0, x0, y1, x1 = prompt.box
            box = np.array([x0, y0, x1, y1], np.float32)
        masks, scores = self.predictor.predict(points, labels, box)
        k = _choose(masks, scores, prompt)
        mask = _keep_prompted(masks[k], prompt)
        return FrameResult(mask, float(np.clip(scores[k], 0, 1)), {"sam_score": float(scores[k])})


def _choose(masks: np.ndarray, scores: np.ndarray, prompt: Prompt) -> int:
    """SAM's best-scored mask, among those whose size fits the previous frame's mask."""
    order = np.argsort(scores)[::-1]
    if prompt.previous is not None and prompt.previous.any():
        area = prompt.previous.sum()
        for k in order:
            if 0.5 * area <= masks[k].sum() <= 2.0 * area:
                return int(k)
    return int(order[0])


def _keep_prompted(mask: np.ndarray, prompt: Prompt) -> np.ndarray:
    """The connected piece(s) under the positive points or the previous mask; holes kept."""
    from scipy import ndimage as ndi

    labels, n = ndi.label(mask, np.ones((3, 3), bool))
    if n <= 1:
        return mask.astype(bool)
    keep = np.zeros(n + 1, bool)
    for y, x in prompt.positive:
        lab = labels[round(y), round(x)]
        keep[lab] = lab > 0
    if prompt.previous is not None and prompt.previous.any():
        overlap = np.bincount(labels[prompt.previous], minlength=n + 1)
        overlap[0] = 0
        if overlap.max() > 0:
            keep[int(np.argmax(overlap))] = True
    if not keep.any():
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        keep[int(np.argmax(sizes))] = True
    return keep[labels]


def make_segmenter(params, *, loaded: LoadedSam | None = None, log=None):
    """The segmenter the parameters ask for (SAM or classical); see `SegmentParams.method`.

    auto: SAM when a checkpoint is given or an official one is in the cache, else classical
    (said once through `log`). sam: a given checkpoint, else the cached official one, else a
    download; offline that is an error naming the alternatives.
    """
    method = params.method
    if method == "classical":
        return make_classical(params)
    if loaded is None:
        path = Path(params.checkpoint) if params.checkpoint else None
        mt = "vit_b" if params.model_type == "auto" else params.model_type
        if path is None:
            path = cached_checkpoint(mt)
        if path is None and method == "sam":
            path = download_checkpoint(mt)
        if path is None:
            if log is not None:
                log("no SAM checkpoint given or cached: using the classical method")
            return make_classical(params)
        from napari_catrack.optional import require

        require("torch", "Segment Anything")
        loaded = load_sam(path, params.model_type, params.device)
    cache = EmbeddingCache(params.embedding_cache, loaded.key)
    return SamSegmenter(loaded, cache)
