"""Sequence autoencoder: a GRU/LSTM reads the data step by step into one code, another writes it back.

An image (C, H, W) is read row by row (MNIST: 28 rows of 28 pixels), each
row's channels side by side; true sequence data is stored by core.datasets as
(1, T, F), so the same code reads it as T steps of F values. By default each
step takes two rows (``rows_per_step``): half the steps for the recurrence to
walk, and matrix products twice as wide, where a small recurrent net's time goes
on a CPU (0.56x the time of one row a step, to the same error: bench/quality.py).
The encoder's last state becomes the code. The decoder is fed the code (and
which step it is at) at every step instead of its own previous output: every
step then trains in parallel, generation needs no sampling loop, and nothing is
lost to exposure bias (with its own output fed back, test reconstructions were
far worse: BCE 0.36 against 0.22 after 5 epochs on mnist5k). It runs in both
directions, so each row is written knowing the rows above and below it: that
halved the error reached in a given time on mnist5k (bench/quality.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .autoencoders import add_noise, latent_knob, noise_knob
from .base import LatentModel, Shape, recon_bce
from .spec import knob

CELLS = {"gru": nn.GRU, "lstm": nn.LSTM}
MAX_STEP_FEATURES = 32  # size of the learned "which step" input of the decoder
_CONFIG_KEYS = {"latent_dim", "cell", "hidden", "noise", "clip"}  # a whole config saved before rows_per_step


def upgrade_config(values: dict) -> dict:
    """A run saved before ``rows_per_step`` existed (its whole config without it) read one row per step."""
    if _CONFIG_KEYS <= set(values) and "rows_per_step" not in values:
        values = {**values, "rows_per_step": 1}
    return values


@dataclass
class SeqAEConfig:
    """Recurrent encoder over the steps (rows) -> code -> recurrent decoder."""

    latent_dim: int = latent_knob(32)
    cell: str = knob("gru", "Recurrent cell", "gru: learned faster here; lstm: a separate memory cell, "
                     "often better on long sequences.", choices=tuple(CELLS))
    hidden: int = knob(128, "Recurrent state size", "Numbers the network carries from one step to the next.",
                       lo=4, hi=1024, options=(32, 64, 128, 256, 512))
    noise: float = noise_knob()  # std of Gaussian input noise (denoising); 0 = off
    clip: float = knob(1.0, "Gradient clipping", "Largest gradient norm per step (recurrent nets can blow up); "
                       "0 = off.", lo=0, form=False)
    # 2 against 1 on mnist5k (20 epochs, 3 seeds, bench/quality.py seqae-k1): test BCE 0.0955 against
    # 0.0956 in 0.56x the time; 4: 0.0992 in 0.33x. Runs saved before it existed read one row (upgrade_config).
    rows_per_step: int = knob(2, "Rows per step", "How many rows (time steps) the recurrent networks read and "
                              "write at once. 2: half the steps to walk, so the same error as 1 (row by row) "
                              "in a little over half the time; 4: faster still, blurrier. A sequence whose "
                              "length is not a multiple is padded with zeros at its end.", lo=1, hi=64,
                              options=(1, 2, 4))


class SeqAE(LatentModel):
    """GRU/LSTM sequence autoencoder: the encoder's last state is the code."""

    # Each step is a few small matrix products. It used to train on one thread: on cores that others keep
    # busy, 2 threads were 10-100x slower than 1 (a loaded 2-core machine: 5 s against 54 ms per GRU step).
    # A job's worker now counts the cores others leave free when a training starts (core.device's
    # job_start_threads: one thread beside a busy neighbour), so it trains like every other family: on 2
    # cores an epoch took 2.26 s on 2 threads against 2.99 s on 1 (one run switching the count every
    # epoch: 45 s against 60 s for the 20 default epochs).
    train_threads = None

    def __init__(self, config: SeqAEConfig, shape: Shape, n_classes: int = 0):
        super().__init__(config, shape, n_classes)
        c, h, w = self.shape
        k = self.per_step = int(config.rows_per_step)
        self.steps, self.features = -(-h // k), k * c * w  # rows padded up to a multiple of k
        rnn, hid, d, t = CELLS[config.cell], config.hidden, self.latent_dim, self.steps
        self.enc = rnn(self.features, hid, batch_first=True)
        self.to_code = nn.Linear(hid, d)
        # Which step the decoder is at: one-hot at the start (for up to 32 steps), then learned.
        p = min(t, MAX_STEP_FEATURES)
        self.step_embed = nn.Parameter(torch.zeros(t, p).fill_diagonal_(1.0) if t <= p
                                       else torch.randn(t, p) * p ** -0.5)
        self.from_code = nn.Linear(d, 2 * hid)  # the first state of each direction
        self.dec = rnn(d + p, hid, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * hid, self.features)
        self.register_buffer("bias_ready", torch.zeros((), dtype=torch.bool))  # saved: set once, by data

    def _rows(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, H/k, k*C*W): k rows a step (rows_per_step), each with its channels side by
        side; H is padded with zero rows up to a multiple of k."""
        rows = x.permute(0, 2, 1, 3)  # (B, H, C, W)
        pad = self.steps * self.per_step - rows.shape[1]
        if pad:
            rows = F.pad(rows, (0, 0, 0, 0, 0, pad))
        return rows.reshape(x.shape[0], self.steps, self.features)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        _, state = self.enc(self._rows(x))
        h = state[0] if isinstance(state, tuple) else state  # an LSTM's state is (h, c)
        return self.to_code(h[-1])  # the state after the last step (B, hidden) -> (B, D)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        b, hid = z.shape[0], self.config.hidden
        h0 = torch.tanh(self.from_code(z)).view(b, 2, hid).transpose(0, 1).contiguous()  # (2, B, hidden)
        state = (h0, torch.zeros_like(h0)) if isinstance(self.dec, nn.LSTM) else h0
        inputs = torch.cat([z.unsqueeze(1).expand(-1, self.steps, -1),
                            self.step_embed.unsqueeze(0).expand(b, -1, -1)], 2)  # (B, T, D + p)
        seq, _ = self.dec(inputs, state)  # (B, T, 2 * hidden)
        c, h, w = self.shape
        rows = self.out(seq).view(b, self.steps * self.per_step, c, w)[:, :h]  # the padding rows dropped
        return rows.permute(0, 2, 1, 3)  # back to (B, C, H, W)

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        rec = recon_bce(self.decode_logits(self.encode(add_noise(x, self.config.noise))), x)
        return {"loss": rec, "recon": rec}

    def train_step(self, x: torch.Tensor, y: torch.Tensor | None,
                   optimizers: list[torch.optim.Optimizer], **loss_kw) -> dict[str, float]:
        """One Adam step with the gradient norm clipped (exploding gradients: the classic RNN failure)."""
        (opt,) = optimizers
        if not bool(self.bias_ready):
            # Start the output at each feature's mean (e.g. MNIST's dark borders): the first
            # epochs then learn shapes, not the background (0.124 vs 0.130 BCE after 8 epochs).
            with torch.no_grad():
                self.out.bias.copy_(torch.logit(self._rows(x).mean((0, 1)).clamp(0.01, 0.99)))
                self.bias_ready.fill_(True)
        parts = self.loss(x, y, **loss_kw)
        opt.zero_grad(set_to_none=True)
        parts["loss"].backward()
        if self.config.clip > 0:
            nn.utils.clip_grad_norm_(self.parameters(), self.config.clip)
        opt.step()
        return {k: float(v.detach()) for k, v in parts.items()}
