"""The project's AdamW and learning-rate schedules match torch.optim step for step.

torch.optim is imported only in a subprocess: importing it pulls torch._dynamo and triton,
whose LLVM crashes a process that has loaded Mesa (the GUI tests run napari in this process).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

SCRIPT = textwrap.dedent(
    """
    import json, math, sys
    import torch
    from napari_catrack.core.optim import AdamW, cosine_annealing, one_cycle

    torch.set_num_threads(1)

    # training the tracker must not construct a torch.optim optimiser (that imports triton)
    import numpy as np
    from napari_catrack.core.tracking.model import DEFAULT_CONFIG, TrackerNet
    from napari_catrack.core.tracking.training import fit

    P = DEFAULT_CONFIG["patch"]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 2, P, P)).astype(np.float32)
    y = rng.normal(size=(8, 2)).astype(np.float32)
    fit(TrackerNet(**DEFAULT_CONFIG), x, y, epochs=1, batch=4)
    trained_without_dynamo = "torch._dynamo" not in sys.modules and "triton" not in sys.modules

    def model(seed):
        torch.manual_seed(seed)
        return torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 2))

    def run(make_opt, step, lrs, wd):
        net = model(0)
        opt = make_opt(net, wd)
        g = torch.Generator().manual_seed(1)
        for lr in lrs:
            x = torch.randn(16, 5, generator=g)
            loss = (net(x) - x[:, :2]).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            step(opt, lr)
        return torch.cat([p.detach().flatten() for p in net.parameters()])

    def ours(net, wd):
        return AdamW(net.parameters(), weight_decay=wd)

    def ours_step(opt, lr):
        opt.step(lr)

    def theirs(cls):
        def make(net, wd):
            return cls(net.parameters(), lr=1.0, weight_decay=wd, foreach=False)
        return make

    def theirs_step(opt, lr):
        for group in opt.param_groups:
            group["lr"] = lr
        opt.step()

    total, peak = 60, 3e-3
    lrs = [one_cycle(i, total, peak) for i in range(total)]
    out = {"trained_without_dynamo": trained_without_dynamo}
    for wd in (0.0, 1e-2):
        a = run(ours, ours_step, lrs, wd)
        b = run(theirs(torch.optim.AdamW), theirs_step, lrs, wd)
        out[f"adamw_wd{wd}"] = float((a - b).abs().max() / b.abs().max())
    a = run(ours, ours_step, lrs, 0.0)
    b = run(theirs(torch.optim.Adam), theirs_step, lrs, 0.0)
    out["adam"] = float((a - b).abs().max() / b.abs().max())
    moved = run(ours, ours_step, lrs, 0.0) - run(ours, ours_step, [0.0] * total, 0.0)
    out["moved"] = float(moved.abs().max())

    net = model(0)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 25)
    got = []
    for i in range(25):
        got.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    want = [cosine_annealing(i, 25, 2e-3) for i in range(25)]
    out["cosine"] = max(abs(a - b) for a, b in zip(got, want)) / 2e-3
    print(json.dumps(out))
    """
)


@pytest.mark.slow
def test_adamw_and_schedules_match_torch_optim():
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=600
    )
    assert result.returncode == 0, result.stderr[-2000:]
    diff = json.loads(result.stdout.strip().splitlines()[-1])
    assert diff["trained_without_dynamo"], "tracker training imported torch._dynamo / triton"
    assert diff["moved"] > 1e-3  # the comparison is not between two untrained models
    assert diff["adamw_wd0.0"] < 1e-5 and diff["adamw_wd0.01"] < 1e-5, diff
    assert diff["adam"] < 1e-5, diff  # weight_decay=0 is plain Adam (the tracker's optimiser)
    assert diff["cosine"] < 1e-9, diff
