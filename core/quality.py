"""Sample quality that needs no download: Fréchet distance, precision/recall and class coverage.

FID proper measures samples in the feature space of an ImageNet Inception
network, which is a 100 MB download and means little for 28x28 digits. Here
the feature space is a small classifier trained on the same dataset (its
penultimate layer, ``FEATURE_DIM`` numbers), trained once per dataset and
cached in memory and on disk ($LATENT_LAB_CACHE, default ~/.cache/latent-lab). Three numbers come out:

- ``fd``: the Fréchet distance between Gaussians fitted to the features of the
  samples and of the real training images (torchmetrics'
  ``FrechetInceptionDistance`` with this custom feature extractor). Lower is
  better; 0 = identical statistics. Only comparable at the same sample count
  and with the same feature net, so ``fd_samples`` travels with it.
- ``precision`` / ``recall``: improved precision and recall (Kynkäänniemi et al.
  2019): the share of samples that fall inside the k-NN balls of real images
  (quality), and the share of real images inside the k-NN balls of the samples
  (variety). torchmetrics has no implementation, so it is the paper's few lines
  on ``torch.cdist``; a test checks it against a brute-force loop.
- ``class_coverage`` (share of classes the classifier finds among the samples,
  a class counting once it gets a fifth of its fair share) and
  ``class_evenness`` (entropy of the predicted class histogram / log K).

Everything is deterministic for a given seed and leaves the global RNG alone.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from .datasets import Dataset
from .models.base import PadCrop

FEATURE_DIM = 64  # feature-space size: small enough for a stable covariance from a few hundred samples
SCORE_SAMPLES = 1000  # samples scored at the end of a training and by `eval`
LIVE_SAMPLES = 256  # samples per point of the live curve (cheap; its FD reads higher than SCORE_SAMPLES')
PR_NEIGHBOURS = 3  # k of the k-NN balls (the paper's default)
COVERAGE_SHARE = 0.2  # a class is covered when it gets >= this fraction of its fair share of samples
_NET_STEPS, _NET_BATCH, _NET_LR = 600, 64, 2e-3
_VERSION = 1  # bump when the feature net or its training changes: old cache files are then ignored
QUALITY_KEYS = ("fd", "precision", "recall", "class_coverage", "class_evenness", "fd_samples")


class FeatureNet(nn.Module):
    """A small CNN classifier whose penultimate layer is the feature space."""

    num_features = FEATURE_DIM  # torchmetrics' FID reads the feature size from here

    def __init__(self, shape: tuple[int, int, int], n_classes: int):
        super().__init__()
        c, _, _ = shape
        self.pc = PadCrop(shape, 4)
        flat = 64 * (self.pc.ph // 4) * (self.pc.pw // 4)
        self.body = nn.Sequential(
            nn.Conv2d(c, 32, 3, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(), nn.Flatten(),
            nn.Linear(flat, 128), nn.ReLU(), nn.Linear(128, FEATURE_DIM))
        self.head = nn.Sequential(nn.ReLU(), nn.Dropout(0.2), nn.Linear(FEATURE_DIM, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) in [0, 1] -> features (B, FEATURE_DIM)."""
        return self.body(self.pc.pad(x.float()))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Images -> class logits (B, K)."""
        return self.head(self(x))


class _Precomputed(nn.Module):
    """Hands features already computed straight to torchmetrics' FID (features are made once)."""

    num_features = FEATURE_DIM

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return f


def _fingerprint(ds: Dataset) -> str:
    """A content hash of the training split (shape, labels, ~64k pixel values) and the net's version."""
    x, y = ds.x_train, ds.y_train
    flat = x.reshape(-1)
    h = hashlib.sha1(f"v{_VERSION}:{tuple(x.shape)}:{ds.n_classes}".encode())
    h.update(flat[:: max(1, flat.numel() // 65536)].float().numpy().tobytes())
    if y is not None:
        h.update(y.numpy().tobytes())
    return h.hexdigest()[:16]


@dataclass
class FeatureSpace:
    """A trained feature net for one dataset, with its test accuracy."""

    net: FeatureNet
    accuracy: float  # on the dataset's test split: how far to trust class_coverage
    key: str

    @torch.no_grad()
    def features(self, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
        """Features (N, FEATURE_DIM) of images (N, C, H, W), on the CPU."""
        return torch.cat([self.net(b.cpu()) for b in x.split(batch_size)]) if len(x) else \
            torch.zeros(0, FEATURE_DIM)

    @torch.no_grad()
    def classes(self, feats: torch.Tensor) -> torch.Tensor:
        """Predicted class per feature row, (N,)."""
        return self.net.head(feats).argmax(1)


_MEMO: dict[str, FeatureSpace] = {}
_LOCK = threading.Lock()  # two jobs on one dataset train the net once


# Feature nets of the bundled datasets, made once with ``python -m core.quality`` and shipped: a new user's
# first training is scored at once instead of first training the net (~3 s of every first "Done").
BUNDLED_DIR = Path(__file__).resolve().parents[1] / "assets" / "feature-nets"


def cache_dir() -> Path:
    """Where trained feature nets are kept: $LATENT_LAB_CACHE/feature-nets (default ~/.cache/latent-lab)."""
    env = os.environ.get("LATENT_LAB_CACHE", "").strip()
    base = Path(env) if env else Path.home() / ".cache" / "latent-lab"
    return base.expanduser().absolute() / "feature-nets"


def _train_net(ds: Dataset) -> FeatureNet:
    """Train the feature net on the training split (seeded, leaves the global RNG untouched)."""
    x, y = ds.x_train, ds.y_train
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = FeatureNet(ds.shape, ds.n_classes)
        opt = torch.optim.Adam(net.parameters(), lr=_NET_LR)
        gen = torch.Generator().manual_seed(0)
        net.train()
        for step in range(_NET_STEPS):
            idx = torch.randint(0, len(x), (_NET_BATCH,), generator=gen)
            for g in opt.param_groups:  # cosine decay: a steady net in a fixed, small budget
                g["lr"] = _NET_LR * 0.5 * (1 + math.cos(math.pi * step / _NET_STEPS))
            loss = F.cross_entropy(net.logits(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return net.eval()


def feature_space(ds: Dataset) -> FeatureSpace:
    """The feature net for ``ds`` (labeled): from memory, from the disk cache, or trained now (seconds)."""
    if not ds.labeled or ds.n_classes < 2:
        raise ValueError(f"{ds.title} has no labels: sample quality needs a labeled dataset "
                         "(its classifier defines the feature space)")
    key = _fingerprint(ds)
    with _LOCK:
        if key in _MEMO:
            return _MEMO[key]
        path = cache_dir() / f"{key}.safetensors"
        if not path.is_file() and (BUNDLED_DIR / path.name).is_file():
            path = BUNDLED_DIR / path.name  # read only: a damaged one is trained anew into the cache
        net = FeatureNet(ds.shape, ds.n_classes)
        acc = None
        try:
            if path.is_file():
                net.load_state_dict(load_file(str(path)))
                acc = float(json.loads(path.with_suffix(".json").read_text())["accuracy"])
        except (OSError, ValueError, KeyError, RuntimeError):
            acc = None  # a damaged cache file: train again and overwrite it
        if acc is None:
            net = _train_net(ds)
            with torch.no_grad():
                acc = float((torch.cat([net.logits(b).argmax(1) for b in ds.x_test.split(1024)])
                             == ds.y_test).float().mean()) if len(ds.x_test) else float("nan")
            path = cache_dir() / path.name
            _save(path, net, acc)
        space = FeatureSpace(net.eval(), acc, key)
        _MEMO[key] = space
        return space


def _save(path: Path, net: FeatureNet, acc: float) -> None:
    """Write the net and its accuracy atomically; a read-only cache folder just isn't used."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".safetensors")
        os.close(fd)
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, tmp)
        path.with_suffix(".json").write_text(json.dumps({"accuracy": acc, "version": _VERSION}))
        os.replace(tmp, path)
    except OSError:
        pass


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = PR_NEIGHBOURS) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) of feature sets (N, F) and (M, F).

    Each set's manifold is the union of balls around its points, each reaching
    its k-th nearest neighbour in the same set. Precision: share of fake points
    inside the real manifold; recall: share of real points inside the fake one.
    """
    if len(real) <= k or len(fake) <= k:
        raise ValueError(f"precision/recall need more than {k} real and fake samples")
    real, fake = real.double(), fake.double()

    def radii(f: torch.Tensor) -> torch.Tensor:
        d = torch.cdist(f, f)  # (N, N); the diagonal 0 is each point itself, hence k + 1
        return d.kthvalue(k + 1, dim=1).values

    d_rf = torch.cdist(real, fake)  # (N, M)
    precision = (d_rf <= radii(real)[:, None]).any(0).double().mean()
    recall = (d_rf <= radii(fake)[None, :]).any(1).double().mean()
    return float(precision), float(recall)


def coverage(pred: torch.Tensor, n_classes: int) -> tuple[float, float]:
    """(share of classes covered, evenness in [0, 1]) of predicted classes (N,)."""
    counts = torch.bincount(pred, minlength=n_classes).double()
    share = counts / max(1, len(pred))
    covered = float((share >= COVERAGE_SHARE / n_classes).double().mean())
    p = share[share > 0]
    evenness = float(-(p * p.log()).sum() / math.log(n_classes))
    return covered, evenness


class SampleScorer:
    """Scores image sets against one dataset's real training images; reusable (live curve)."""

    def __init__(self, ds: Dataset, max_reference: int = 5000):
        self.space = feature_space(ds)
        self.n_classes = ds.n_classes
        x = ds.x_train[torch.randperm(len(ds.x_train), generator=torch.Generator().manual_seed(0))[:max_reference]]
        self.real = self.space.features(x)  # (R, F), fixed order: PR uses its first n rows
        from torchmetrics.image.fid import FrechetInceptionDistance  # torchvision: imported on use

        self.fid = FrechetInceptionDistance(feature=_Precomputed(), reset_real_features=False)
        self.fid.update(self.real, real=True)

    @torch.no_grad()
    def score_images(self, images: torch.Tensor) -> dict[str, float]:
        """fd, precision, recall, class_coverage, class_evenness and fd_samples of images (N, C, H, W)."""
        if len(images) < 2:
            raise ValueError("sample quality needs at least 2 images")
        fake = self.space.features(images.float().clamp(0, 1))
        self.fid.reset()  # keeps the real statistics (reset_real_features=False)
        self.fid.update(fake, real=False)
        fd = float(self.fid.compute())
        n = min(len(fake), len(self.real))
        precision, recall = precision_recall(self.real[:n], fake[:n])
        covered, even = coverage(self.space.classes(fake), self.n_classes)
        return {"fd": fd, "precision": precision, "recall": recall, "class_coverage": covered,
                "class_evenness": even, "fd_samples": int(len(fake))}

    @torch.no_grad()
    def score_model(self, model: Any, n: int = SCORE_SAMPLES, seed: int = 0) -> dict[str, float]:
        """Scores ``n`` samples of a latent model (eval mode for the draw, its mode restored after)."""
        was_training = model.training
        model.eval()
        try:
            dev = next(iter(model.buffers()), torch.zeros(0)).device
            # The model's own generator: scoring never moves the training's random stream.
            gen = torch.Generator(device=dev).manual_seed(seed)
            images = torch.cat([model.sample(len(c), generator=gen).cpu()
                                for c in torch.arange(n).split(500)])
        finally:
            model.train(was_training)
        return self.score_images(images)


def sample_quality(model: Any, ds: Dataset, n: int = SCORE_SAMPLES, seed: int = 0) -> dict[str, Any]:
    """The sample-quality metrics of a latent model on a labeled dataset, plus the feature net's accuracy."""
    scorer = SampleScorer(ds)
    return {**scorer.score_model(model, n, seed), "feature_net_accuracy": scorer.space.accuracy}


def bundle(names: tuple[str, ...] = ("mnist5k", "digits")) -> list[Path]:
    """Train the bundled datasets' feature nets into assets/feature-nets (what ships with the code)."""
    from .datasets import load_dataset
    out = []
    for name in names:
        ds = load_dataset(name)
        with _LOCK:
            _MEMO.pop(_fingerprint(ds), None)
        net = _train_net(ds)
        with torch.no_grad():
            acc = float((torch.cat([net.logits(b).argmax(1) for b in ds.x_test.split(1024)]) == ds.y_test)
                        .float().mean())
        path = BUNDLED_DIR / f"{_fingerprint(ds)}.safetensors"
        _save(path, net, acc)
        out.append(path)
    return out


if __name__ == "__main__":
    for p in bundle():
        print(p)
