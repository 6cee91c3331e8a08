"""The plain CNN classifier and the AE+CNN hybrid.

Both share one architecture so the comparison is fair: a conv front end
(image -> feature map) and a CNN back end (feature map -> code -> class
logits). The hybrid adds a decoder and learns from cross-entropy on labeled
images + lambda * reconstruction on all images, plus optional extra terms on
the unlabeled ones (pseudo-labels, entropy), each off by default.

Both apply the same optional training augmentation (random shifts and
rotations), so a comparison with equal configs gives both the same data.
What changes during training is not model state: the learning-rate schedule
is the engine's (``TrainConfig.lr_schedule``), and ``Hybrid.loss`` takes
per-call loss ``weights`` (e.g. the unlabeled terms off while pre-training).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .base import Classifier, PadCrop, Shape, recon_bce
from .spec import knob


@dataclass
class CNNConfig:
    """Front-end widths, back-end width, dropout and training augmentation of the classifier."""

    widths: tuple[int, ...] = knob((32, 64), "Front-end widths", "Channels of the full-size conv and of each "
                                   "stride-2 conv after it.", lo=1, hi=512, max_len=4, form=False)
    head_width: int = knob(128, "Code width", "Channels of the back end, pooled into the code the "
                           "classifier reads.", lo=1, hi=2048, options=(32, 64, 128, 256))
    dropout: float = knob(0.3, "Dropout", "Share of the code zeroed at random while training.",
                          lo=0, below=1, step=0.05, ui_hi=0.8)
    # max random translation while training, as a fraction of the image side (0 = off)
    shift: float = knob(0.0, "Random shifts (augmentation)", "Largest shift, as a fraction of the image side.",
                        lo=0, step=0.01, ui_hi=0.25)
    # max random rotation while training, in degrees (0 = off)
    rotate: float = knob(0.0, "Random rotations (degrees)", lo=0, hi=180, step=1.0, ui_hi=30.0)


@dataclass
class HybridConfig(CNNConfig):
    """CNNConfig plus the weights of the multi-task loss.

    loss = CE(labeled) + lam * BCE(x, decoder(code(noisy x)))
           + pseudo * CE(unlabeled, own confident predictions on another view)
           + entropy * (mean H(prediction) - balance * H(mean prediction)) on unlabeled
    The balance part keeps the predictions spread over the classes, so entropy
    minimisation cannot collapse every image into one class (with balance = 1
    the term is minus the mutual information between images and predictions).
    """

    lam: float = knob(1.0, "lambda (reconstruction weight)", "Weight of the reconstruction term.",
                      lo=0, step=0.1, ui_hi=5.0)
    noise: float = knob(0.0, "Input noise (denoising)", "Noise on the reconstruction branch's input.",
                        lo=0, step=0.05, ui_hi=0.8)
    # "features": decode the front-end map; "code": the back end's pooled code
    recon_from: str = knob("features", "Reconstruct from", choices=("features", "code"), form=False)
    # weight of the pseudo-label term on unlabeled images (0 = off)
    pseudo: float = knob(0.0, "Pseudo-label weight", lo=0, form=False)
    # confidence a prediction needs to become a pseudo-label
    threshold: float = knob(0.95, "Pseudo-label confidence", lo=0, hi=1, form=False)
    # weight of entropy minimisation on unlabeled images (0 = off)
    entropy: float = knob(0.0, "Entropy weight", lo=0, form=False)
    # within the entropy term: minus this x entropy of the batch's mean prediction
    balance: float = knob(0.0, "Class balance", lo=0, form=False)


def front_end(c_in: int, widths: tuple[int, ...]) -> nn.Sequential:
    """3x3 conv at full size, then one stride-2 conv per width: (B, C, H, W) -> (B, w, H/4, W/4)."""
    layers: list[nn.Module] = [nn.Conv2d(c_in, widths[0], 3, padding=1), nn.BatchNorm2d(widths[0]), nn.ReLU()]
    c = widths[0]
    for w in widths:
        layers += [nn.Conv2d(c, w, 3, stride=2, padding=1), nn.BatchNorm2d(w), nn.ReLU()]
        c = w
    return nn.Sequential(*layers)


def back_end(c_in: int, width: int, n_classes: int, dropout: float) -> nn.Sequential:
    """Feature map -> conv -> global average pool (the code) -> dropout -> logits."""
    return nn.Sequential(
        nn.Conv2d(c_in, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(width, n_classes))


def labeled_ce(logits: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    """Cross-entropy over labeled examples only (label -1 = unlabeled); 0 if none."""
    if y is None:
        return logits.sum() * 0.0
    mask = y >= 0
    if not bool(mask.any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits[mask], y[mask])


def prediction_entropies(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean per-image entropy (low = confident) and entropy of the mean prediction (high = spread), logits (U, K)."""
    logp = F.log_softmax(logits, 1)  # (U, K)
    p = logp.exp()
    mean_p = p.mean(0)  # (K,) the batch's class mix
    return -(p * logp).sum(1).mean(), -(mean_p * mean_p.clamp_min(1e-8).log()).sum()


def random_affine(x: torch.Tensor, shift: float, rotate: float) -> torch.Tensor:
    """Each image (B, C, H, W) shifted by up to ``shift`` x its side and rotated by up to ``rotate`` degrees."""
    if shift <= 0 and rotate <= 0 or x.shape[0] == 0:
        return x
    b = x.shape[0]
    # Uniform draws from torch's global generator, which the engine seeds.
    u = torch.rand(b, 3, device=x.device) * 2 - 1  # (B, 3) in [-1, 1)
    a = u[:, 0] * math.radians(rotate)
    cos, sin = torch.cos(a), torch.sin(a)
    # affine_grid works in [-1, 1] coordinates, where the whole side is 2.
    tx, ty = u[:, 1] * shift * 2, u[:, 2] * shift * 2
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)  # (B, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, padding_mode="zeros", align_corners=False)


class CNN(Classifier):
    """Plain CNN: front end + back end, cross-entropy on labeled images only."""

    def __init__(self, config: CNNConfig, shape: Shape, n_classes: int = 10):
        super().__init__(config, shape, n_classes)
        if n_classes < 2:
            raise ValueError("a classifier needs a labeled dataset with at least 2 classes")
        self.pc = PadCrop(self.shape, 2 ** len(config.widths))
        self.front = front_end(self.shape[0], config.widths)
        self.back = back_end(config.widths[-1], config.head_width, n_classes, config.dropout)

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        """The configured random shifts/rotations while training; identity in eval mode."""
        if not self.training:
            return x
        return random_affine(x, self.config.shift, self.config.rotate)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Front-end feature map (B, w, H/4, W/4)."""
        return self.front(self.pc.pad(x))

    def code(self, feats: torch.Tensor) -> torch.Tensor:
        """Back end up to the pooled code: feature map -> (B, head_width)."""
        return self.back[:5](feats)

    def head(self, code: torch.Tensor) -> torch.Tensor:
        """Pooled code (B, head_width) -> logits (B, K), through dropout."""
        return self.back[5:](code)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) -> class logits (B, K)."""
        return self.back(self.features(x))

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Cross-entropy on the labeled rows of the batch (augmented while training)."""
        # Only labeled images go through the network: unlabeled ones would give
        # nothing to the loss but would still move the BatchNorm statistics,
        # a semi-supervised signal the plain CNN must not get.
        if y is not None and bool((y >= 0).any()):
            keep = y >= 0
            x, y = x[keep], y[keep]
        ce = labeled_ce(self.logits(self.augment(x)), y)
        return {"loss": ce, "ce": ce}


class Hybrid(CNN):
    """AE+CNN: the classifier's layers are also an encoder, with a decoder trained to reconstruct."""

    def __init__(self, config: HybridConfig, shape: Shape, n_classes: int = 10):
        super().__init__(config, shape, n_classes)
        widths = list(reversed(config.widths))
        layers: list[nn.Module] = []
        if config.recon_from == "code":
            # (B, head_width) -> (B, w, H/4, W/4): un-pool the code with a linear layer.
            self.ph, self.pw = self.pc.ph // 2 ** len(widths), self.pc.pw // 2 ** len(widths)
            layers += [nn.Linear(config.head_width, widths[0] * self.ph * self.pw), nn.ReLU(),
                       nn.Unflatten(1, (widths[0], self.ph, self.pw))]
        # Mirror of the front end; the last transposed conv paints the image
        # directly (no full-size conv: layers at full resolution dominate the cost).
        for i, w in enumerate(widths):
            if i + 1 < len(widths):
                layers += [nn.ConvTranspose2d(w, widths[i + 1], 4, stride=2, padding=1),
                           nn.BatchNorm2d(widths[i + 1]), nn.ReLU()]
            else:
                layers.append(nn.ConvTranspose2d(w, self.shape[0], 4, stride=2, padding=1))
        self.decoder = nn.Sequential(*layers)

    def reconstruct_logits(self, feats: torch.Tensor) -> torch.Tensor:
        """Front-end features -> pre-sigmoid images (B, C, H, W)."""
        src = self.code(feats) if self.config.recon_from == "code" else feats
        return self.pc.crop(self.decoder(src))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Images through the encoder and the decoder, in [0, 1]."""
        return torch.sigmoid(self.reconstruct_logits(self.features(x)))

    def loss_weights(self, weights: dict[str, float] | None = None) -> dict[str, float]:
        """The config's loss weights (lam, entropy, balance, pseudo), with ``weights`` overriding some."""
        cfg = self.config
        out = {"lam": cfg.lam, "entropy": cfg.entropy, "balance": cfg.balance, "pseudo": cfg.pseudo}
        unknown = sorted(set(weights or {}) - set(out))
        if unknown:
            raise ValueError(f"unknown loss weight(s) {', '.join(unknown)}; valid: {', '.join(out)}")
        return {**out, **(weights or {})}

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None,
             weights: dict[str, float] | None = None) -> dict[str, torch.Tensor]:
        """CE on labeled rows + lam * reconstruction of all rows (+ the optional unlabeled terms).

        ``weights`` overrides some of the config's loss weights for this call only.
        """
        cfg, w = self.config, self.loss_weights(weights)
        x0, x = x, self.augment(x)  # the reconstruction target is the augmented clean image
        noisy = (x + cfg.noise * torch.randn_like(x)).clamp(0, 1) if cfg.noise > 0 else x
        feats = self.features(noisy)  # (B, w, H/4, W/4)
        if cfg.recon_from == "code":
            code = self.code(feats)  # (B, head_width), shared by the head and the decoder
            logits = self.head(code)
            rec = recon_bce(self.pc.crop(self.decoder(code)), x)
        else:
            logits = self.back(feats)
            rec = recon_bce(self.pc.crop(self.decoder(feats)), x)
        ce = labeled_ce(logits, y)
        parts = {"ce": ce, "recon": rec}
        total = ce + w["lam"] * rec
        unl = (y < 0) if y is not None else torch.ones(len(x), dtype=torch.bool, device=x.device)
        if (w["pseudo"] > 0 or w["entropy"] > 0) and self.training:
            parts.update(self._unlabeled_terms(x0[unl], logits[unl], w["pseudo"]))
            total = total + w["pseudo"] * parts["pseudo"] + w["entropy"] * (parts["entropy"] -
                                                                          w["balance"] * parts["balance"])
        return {"loss": total, **parts}

    def _unlabeled_terms(self, x_u: torch.Tensor, logits_u: torch.Tensor,
                         pseudo: float) -> dict[str, torch.Tensor]:
        """Pseudo-label CE and prediction entropy on the unlabeled rows (x_u: (U, C, H, W), not augmented)."""
        zero = logits_u.sum() * 0.0
        if x_u.shape[0] == 0:
            return {"pseudo": zero, "entropy": zero, "balance": zero, "pl_frac": zero}
        ent, marg = prediction_entropies(logits_u)
        if pseudo <= 0:
            return {"pseudo": zero, "entropy": ent, "balance": marg, "pl_frac": zero}
        # Targets from a second, independently augmented view, without gradient
        # (FixMatch's weak view); only confident ones count.
        with torch.no_grad():
            p = F.softmax(self.logits(self.augment(x_u)), 1)  # (U, K)
            conf, target = p.max(1)
            mask = (conf >= self.config.threshold).float()
        pl = (F.cross_entropy(logits_u, target, reduction="none") * mask).mean()
        return {"pseudo": pl, "entropy": ent, "balance": marg, "pl_frac": mask.mean()}

    @torch.no_grad()
    def preview(self, x: torch.Tensor) -> torch.Tensor:
        """Originals and reconstructions, like the autoencoders."""
        was_training = self.training
        self.eval()
        out = torch.cat([x, self.reconstruct(x)])
        self.train(was_training)
        return out
