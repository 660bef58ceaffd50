"""The optimiser every trained model in napari-catrack uses: AdamW and its learning-rate schedules.

Written out because `torch.optim` imports torch._dynamo and with it triton, whose bundled LLVM
crashes a process that already has Mesa's (napari on a software OpenGL renderer): training must
work inside napari. Nothing here imports torch.optim.
"""

from __future__ import annotations

import math


class AdamW:
    """AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay; `step(lr)`."""

    def __init__(self, params, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        import torch

        self.params, self.betas, self.eps, self.wd = list(params), betas, eps, weight_decay
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.t = 0

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self, lr: float) -> None:
        import torch

        self.t += 1
        b1, b2 = self.betas
        c1, c2 = 1 - b1**self.t, 1 - b2**self.t
        with torch.no_grad():
            for p, m, v in zip(self.params, self.m, self.v):
                if p.grad is None:
                    continue
                m.mul_(b1).add_(p.grad, alpha=1 - b1)
                v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                p.mul_(1 - lr * self.wd)
                p.addcdiv_(m, (v / c2).sqrt_().add_(self.eps), value=-lr / c1)


def one_cycle(step: int, total: int, peak: float, warmup: float = 0.3) -> float:
    """Learning rate at `step`: cosine warm-up from peak/25 over the first 30 %, then cosine
    annealing to peak/1e4 (the shape of PyTorch's OneCycleLR)."""
    up = max(1, round(warmup * total))
    if step < up:
        a, b, f = peak / 25, peak, step / up
    else:
        a, b, f = peak, peak / 1e4, (step - up) / max(1, total - up)
    return b + (a - b) * (1 + math.cos(math.pi * f)) / 2


def cosine_annealing(step: int, total: int, peak: float, minimum: float = 0.0) -> float:
    """Learning rate at `step` of `total`: cosine annealing from `peak` to `minimum` (the closed
    form of PyTorch's CosineAnnealingLR with T_max = total, stepped once per batch)."""
    return minimum + (peak - minimum) * (1 + math.cos(math.pi * step / max(1, total))) / 2
