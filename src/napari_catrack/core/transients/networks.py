"""The networks behind the trained transient detectors (torch is imported only when built).

Every network maps model inputs (batch, channels, time) at the detector's rate plus a small
conditioning vector per trace (batch, n_cond: how fast the camera was, how smooth the trace
already is; see `model_input.py`) to one logit per frame.

- `tcn` (default): a temporal convolutional network. One strided convolution takes the 30 Hz
  input to 10 Hz, five residual dilated convolutions (dilation 1-16, about +-6 s of context)
  work there, each modulated by the conditioning (FiLM: a per-channel gain and bias), and a
  small head back at 30 Hz combines them with the input for frame-precise rises. Chosen over the
  recurrent networks for speed: convolutions batch over neurons and windows, so 324 neurons x
  15,000 frames run in seconds on two cores (a GRU of the same accuracy takes about a minute).
- `gru`, `lstm`: a convolutional front end and a 2-layer bidirectional recurrent network.
- `transformer`: CalTrig's "local Transformer" (attention limited to +-`attention_window_s`).
The recurrent networks and the Transformer read the conditioning as extra constant channels.
"""

from __future__ import annotations

import functools
import math

ARCHITECTURES = ("tcn", "gru", "lstm", "transformer")


def torch_module():
    """torch, imported on first use (importing the transients package must stay light)."""
    from napari_catrack.optional import require

    return require("torch", "a learned transient detector")


@functools.cache
def network_classes() -> dict:
    """{architecture: nn.Module class}, defined lazily so torch loads only when used."""
    torch = torch_module()
    nn = torch.nn
    F = torch.nn.functional

    class DilatedBlock(nn.Module):
        def __init__(self, channels: int, dilation: int):
            super().__init__()
            self.conv = nn.Conv1d(channels, channels, 3, padding=dilation, dilation=dilation)

        def forward(self, h, gain, bias):
            return h + F.relu(self.conv(h) * (1 + gain[..., None]) + bias[..., None])

    class TCN(nn.Module):
        """Strided front (x1/3) -> FiLM-conditioned dilated residual stack -> head at full rate."""

        def __init__(self, cfg, in_channels: int, n_cond: int):
            super().__init__()
            c, down = cfg.hidden, 3
            self.channels = c
            self.front = nn.Conv1d(in_channels, c, 2 * down, stride=down, padding=down // 2)
            self.blocks = nn.ModuleList(DilatedBlock(c, d) for d in cfg.dilations)
            self.film = nn.Linear(n_cond, 2 * c * len(self.blocks))
            nn.init.zeros_(self.film.weight)  # starts as a plain TCN
            nn.init.zeros_(self.film.bias)
            self.head = nn.Conv1d(c + in_channels, cfg.head, 5, padding=2)
            self.out = nn.Conv1d(cfg.head, 1, 1)

        def forward(self, x, cond):
            h = F.relu(self.front(x))
            film = self.film(cond).view(x.shape[0], len(self.blocks), 2, self.channels)
            for i, block in enumerate(self.blocks):
                h = block(h, film[:, i, 0], film[:, i, 1])
            # exactly x3 (then cut or edge-padded to the input), so a frame's output does not
            # depend on where its window starts or how long it is
            h = F.interpolate(h, scale_factor=3, mode="linear", align_corners=False)
            n = x.shape[-1]
            h = F.pad(h, (0, max(0, n - h.shape[-1])), mode="replicate")[..., :n]
            h = F.relu(self.head(torch.cat([h, x], 1)))
            return self.out(h)[:, 0]

    class Recurrent(nn.Module):
        """Conv front end (local shape) + bidirectional GRU/LSTM or local Transformer."""

        def __init__(self, cfg, in_channels: int, n_cond: int):
            super().__init__()
            h = cfg.hidden
            self.arch = cfg.arch
            self.front = nn.Sequential(
                nn.Conv1d(in_channels + n_cond, h, 5, padding=2),
                nn.GELU(),
                nn.Conv1d(h, h, 5, padding=2),
                nn.GELU(),
            )
            if cfg.arch in ("gru", "lstm"):
                rnn = nn.GRU if cfg.arch == "gru" else nn.LSTM
                self.core = rnn(h, h, cfg.layers, batch_first=True, bidirectional=True)
                out = 2 * h
            else:
                layer = nn.TransformerEncoderLayer(
                    h, cfg.heads, dim_feedforward=2 * h, dropout=0.1, batch_first=True
                )
                self.core = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
                self.reach = max(1, round(cfg.attention_window_s * cfg.sample_rate_hz))
                out = h
            self.head = nn.Linear(out, 1)

        def _positions(self, n: int, h: int, device):
            pos = torch.arange(n, device=device, dtype=torch.float32)[:, None]
            freq = torch.exp(torch.arange(0, h, 2, device=device) * (-math.log(1e4) / h))
            pe = torch.zeros(n, h, device=device)
            pe[:, 0::2] = torch.sin(pos * freq)
            pe[:, 1::2] = torch.cos(pos * freq[: h // 2])
            return pe

        def forward(self, x, cond):
            if cond.shape[-1]:
                x = torch.cat([x, cond[..., None].expand(-1, -1, x.shape[-1])], 1)
            z = self.front(x).transpose(1, 2)
            if self.arch == "transformer":
                n, h = z.shape[1], z.shape[2]
                z = z + self._positions(n, h, z.device)
                i = torch.arange(n, device=z.device)
                far = (i[:, None] - i[None, :]).abs() > self.reach
                z = self.core(z, mask=far)
            else:
                z = self.core(z)[0]
            return self.head(z)[..., 0]

    return {"tcn": TCN, "gru": Recurrent, "lstm": Recurrent, "transformer": Recurrent}


def build_network(cfg, in_channels: int, n_cond: int):
    """A fresh network for a `DetectorConfig` (random weights: seed torch first)."""
    return network_classes()[cfg.arch](cfg, in_channels, n_cond)


def receptive_frames(cfg) -> int:
    """Frames of context (at the detector's rate) on each side that change a frame's output:
    inference windows keep at least this margin. Recurrent networks: the whole window."""
    if cfg.arch != "tcn":
        return round(cfg.margin_s * cfg.sample_rate_hz)
    return 3 * (3 + 2 * sum(cfg.dilations)) + 2 + 3
