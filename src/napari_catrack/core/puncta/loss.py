"""DECODE's loss for the localisation head, the calcium head's loss, and Kendall weighting.

DECODE (Speiser et al. 2021): the per-pixel outputs of a frame form a Gaussian mixture over
(x, y, photons) whose weights are the detection probabilities; the loss is the negative
log-likelihood of the true emitters under that mixture plus a Gaussian approximation to the
likelihood of their number (mean sum p, variance sum p(1-p)). It trains detection, positions,
photons and their standard deviations together, so the predicted uncertainties are calibrated.

Kendall, Gal & Cipolla (2018): tasks are weighted by learned homoscedastic uncertainties,
L = sum_i exp(-s_i) L_i + s_i, so no hand-tuned weights between the localisation, background,
PSF-width and calcium losses. DECODE's loss is a negative log-density, which can be negative,
where exp(-s) L + s has no minimum; the log-variances are therefore bounded (s = 3 tanh(u)).
"""

from __future__ import annotations

import math

TASKS = ("localization", "background", "sigma", "calcium")


def _torch():
    from napari_catrack.core.puncta.network import _torch as torch_module

    return torch_module()


def pad_targets(targets: list, device=None):
    """Emitters per sample (K_b, 5: x, y, photons, sigma, calcium) -> padded (B, K, 5) + mask."""
    torch = _torch()
    k = max([len(t) for t in targets] + [1])
    out = torch.zeros((len(targets), k, 5), device=device)
    mask = torch.zeros((len(targets), k), dtype=torch.bool, device=device)
    for b, t in enumerate(targets):
        if len(t):
            out[b, : len(t)] = torch.as_tensor(t, dtype=torch.float32, device=device)
            mask[b, : len(t)] = True
    return out, mask


def localization_loss(out: dict, emitters, mask):
    """DECODE's Gaussian-mixture + count loss, averaged over the batch."""
    torch = _torch()
    logit = out["logit"]
    b, h, w = logit.shape
    p = torch.sigmoid(logit).reshape(b, -1)
    rows = torch.arange(h, device=logit.device, dtype=torch.float32)
    cols = torch.arange(w, device=logit.device, dtype=torch.float32)
    mx = (cols[None, None, :] + out["dx"]).reshape(b, 1, -1)
    my = (rows[None, :, None] + out["dy"]).reshape(b, 1, -1)
    mn = out["photons"].reshape(b, 1, -1)
    sx, sy, sn = (out[k].reshape(b, 1, -1) for k in ("sd_x", "sd_y", "sd_photons"))
    ex, ey, en = (emitters[..., i : i + 1] for i in range(3))  # (B, K, 1)
    log_n = (
        -0.5 * (((ex - mx) / sx) ** 2 + ((ey - my) / sy) ** 2 + ((en - mn) / sn) ** 2)
        - torch.log(sx) - torch.log(sy) - torch.log(sn) - 1.5 * math.log(2 * math.pi)
    )  # fmt: skip
    p_sum = p.sum(dim=1, keepdim=True)
    log_w = torch.log(p + 1e-8) - torch.log(p_sum + 1e-8)
    mix = torch.logsumexp(log_n + log_w[:, None, :], dim=2)  # (B, K)
    gmm = -(mix * mask).sum(dim=1)
    count = mask.sum(dim=1).float()
    mean = p_sum[:, 0]
    var = (p * (1 - p)).sum(dim=1) + 1e-3
    count_nll = 0.5 * (count - mean) ** 2 / var + 0.5 * torch.log(2 * math.pi * var)
    return (gmm + count_nll).mean()


def _owner_index(emitters, h: int, w: int):
    torch = _torch()
    r = torch.clamp(torch.round(emitters[..., 1]).long(), 0, h - 1)
    c = torch.clamp(torch.round(emitters[..., 0]).long(), 0, w - 1)
    return r * w + c


def sigma_loss(out: dict, emitters, mask):
    """L1 of the PSF width at the pixel each true emitter falls in."""
    torch = _torch()
    b, h, w = out["sigma"].shape
    idx = _owner_index(emitters, h, w)
    pred = torch.gather(out["sigma"].reshape(b, -1), 1, idx)
    err = (pred - emitters[..., 3]).abs() * mask
    return err.sum() / mask.sum().clamp(min=1)


def background_loss(out: dict, background):
    """Mean squared error of the normalised background map."""
    return ((out["background"] - background) ** 2).mean()


def calcium_loss(out: dict, emitters, mask):
    """Cross-entropy of the calcium call at each true punctum's pixel and its 4 neighbours;
    emitters whose calcium label is negative (unknown, e.g. bootstrapped labels) are skipped.
    Unweighted, so the probability stays a probability: the first network weighted the rare
    positives up and paid for it in false calls (specificity 0.93-0.97); the training scenes now
    carry signals at 10-20 % of punctum-frames, enough for plain cross-entropy."""
    torch = _torch()
    b, h, w = out["calcium_logit"].shape
    logits = out["calcium_logit"].reshape(b, -1)
    label = emitters[..., 4]
    known = mask & (label >= 0)
    total, count = logits.new_zeros(()), 0
    for dy, dx in ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)):
        shifted = emitters.clone()
        shifted[..., 0] += dx
        shifted[..., 1] += dy
        idx = _owner_index(shifted, h, w)
        pred = torch.gather(logits, 1, idx)
        bce = torch.nn.functional.binary_cross_entropy_with_logits(
            pred, label.clamp(min=0), reduction="none"
        )
        total = total + (bce * known).sum()
        count += int(known.sum())
    return total / max(count, 1)


def task_losses(out: dict, emitters, mask, background) -> dict:
    return {
        "localization": localization_loss(out, emitters, mask),
        "background": background_loss(out, background),
        "sigma": sigma_loss(out, emitters, mask),
        "calcium": calcium_loss(out, emitters, mask),
    }


def make_kendall(tasks=TASKS):
    """A module holding one learned log-variance per task; `module(losses)` -> weighted sum.
    The log-variances live in [-3, 3] (see the module docstring)."""
    torch = _torch()

    class Kendall(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tasks = tuple(tasks)
            self.raw = torch.nn.Parameter(torch.zeros(len(self.tasks)))

        def log_vars(self):
            return 3.0 * torch.tanh(self.raw)

        def forward(self, losses: dict):
            s = self.log_vars()
            total = 0.0
            for i, name in enumerate(self.tasks):
                total = total + torch.exp(-s[i]) * losses[name] + s[i]
            return total

        def weights(self) -> dict:
            s = self.log_vars().detach()
            return {n: round(float(torch.exp(-v)), 4) for n, v in zip(self.tasks, s)}

    return Kendall()
