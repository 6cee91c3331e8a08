"""Anomaly detection with autoencoders: train on normal images only, flag what they rebuild badly.

An autoencoder trained on one kind of image (the normal class or classes)
learns to rebuild that kind well and anything else worse, so a per-image
error is an anomaly score. ``run_anomaly`` trains any registry family that
encodes and reconstructs (AE, CAE, VAE, and families added later) on the
normal training images, scores every evaluation image several ways and
measures each score with scikit-learn's ROC AUC. ``run_benchmark`` is the
one-class protocol of Ruff et al. (2018, Deep SVDD): each class in turn is
normal, the rest of the test split anomalous, and the AUCs are averaged.

Which score works matters more than the architecture (bench/anomaly.py, mean
one-class AUC on mnist5k with the default CAE, 3 seeds): per-pixel BCE, the
error the rest of the app shows, mostly measures how much stroke edge an image
has (BCE is largest at grey pixels), so thin digits such as 1s look "normal"
to every model (0.925); plain squared error does better (0.966); squared error
between slightly blurred images better still (0.976), because it forgives the
one-pixel stroke shifts that are ordinary handwriting variation while keeping
differences of shape; and that error per unit of ink (0.984) best: an
absolute error grows with how much is drawn, so a badly rebuilt thin 1 used
to score below a well rebuilt thick 8 (normal 8: 0.925 -> 0.965). The score,
not depth, does most of the work: PCA (a linear autoencoder) of the same code
size with the same score comes within 0.001 of the CAE on mnist5k.
``recon_scores`` takes any reconstruction, so the benchmark scores PCA too.
"""
from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .datasets import Dataset, DatasetError, check_fits, load_dataset
from .device import seed_everything
from .engine import Event, TrainConfig, train
from .models import ConfigError, ModelSpec, RegistryModel, build_model, get_spec, MODELS

# What each score is, in a few words (pages and the CLI print these names).
SCORES: dict[str, str] = {
    "relative": "blurred squared error per unit of ink",
    "smooth": "squared error after a slight blur",
    "mse": "squared error per pixel",
    "bce": "binary cross-entropy per pixel",
    "latent": "distance of the code from the normal codes",
    "neg_elbo": "negative ELBO (VAE only)",
}
DEFAULT_SCORE = "relative"
DEFAULT_MODEL = "cae"
DEFAULT_EPOCHS = 30  # ~190 steps on 400 images: long enough to learn a class, short enough for 30 s
MAX_STEPS = 3000  # caps the epochs on large normal sets (a full MNIST class is 6,000 images)
EXAMPLES = 10  # most and least anomalous images kept per score for display
ELBO_SAMPLES = 8  # Monte-Carlo samples of z per image for the negative ELBO

# Deep SVDD (one-class), Ruff et al. 2018, Table 1: MNIST AUC per normal digit, trained on
# ~6,000 images per class and tested on the full 10,000-image MNIST test set.
DEEP_SVDD_MNIST: dict[int, float] = {0: 0.980, 1: 0.997, 2: 0.917, 3: 0.919, 4: 0.949, 5: 0.885,
                                     6: 0.983, 7: 0.946, 8: 0.939, 9: 0.965}
DEEP_SVDD_MNIST_MEAN = 0.948


def anomaly_families() -> list[str]:
    """Registry families that can detect anomalies: they encode, reconstruct and train without labels."""
    return [n for n, s in MODELS.items() if _fits(s)]


def _fits(spec: ModelSpec) -> bool:
    return spec.is_latent and spec.reconstructs and not spec.approximate_encoder and not spec.needs_labels


@dataclass
class AnomalyConfig:
    """One anomaly experiment: the data, which classes are normal, the model and its training."""

    dataset: str | Dataset = "mnist5k"  # a spec, or a parsed Dataset (an upload: never a path to parse again)
    normal: tuple[int, ...] | None = (0,)  # class indices; None: every image of ``dataset`` is normal
    model: str = DEFAULT_MODEL
    model_config: dict[str, Any] = field(default_factory=dict)
    eval_dataset: str | Dataset | None = None  # suspects, or a labeled set with the same classes to score on
    seed: int = 0
    epochs: int = DEFAULT_EPOCHS
    batch_size: int | None = None  # None: the family's default
    lr: float | None = None
    score: str = DEFAULT_SCORE  # the headline score (roc_auc)
    device: str = "auto"

    def validate(self) -> "AnomalyConfig":
        """Raise ConfigError / ValueError with a one-line message for bad settings."""
        spec = get_spec(self.model)
        if not _fits(spec):
            raise ConfigError(f"{spec.title} cannot score anomalies by reconstruction; choose one of: "
                              f"{', '.join(anomaly_families())}")
        if self.score not in SCORES:
            raise ConfigError(f"unknown score {self.score!r}; choose one of: {', '.join(SCORES)}")
        if not 1 <= int(self.epochs) <= 1000:
            raise ValueError("epochs must be between 1 and 1,000")
        return self

    def train_config(self) -> TrainConfig:
        """The engine settings: the family's defaults, this config's epochs, capped at MAX_STEPS."""
        spec = get_spec(self.model)
        d = {**spec.train_defaults, "epochs": int(self.epochs)}
        if self.batch_size is not None:
            d["batch_size"] = int(self.batch_size)
        if self.lr is not None:
            d["lr"] = float(self.lr)
        return TrainConfig(**d, seed=self.seed, max_steps=MAX_STEPS, preview_every=0, device=self.device)


# --------------------------------------------------------------------------- the data

SUSPECT, NORMAL_UNLABELED = -1, -2  # labels of evaluation images that have no class of their own


@dataclass
class EvalSet:
    """The images to score: which are anomalous, their class (-1 for suspects) and where they come from."""

    x: torch.Tensor  # (N, C, H, W)
    is_anomaly: np.ndarray  # (N,) bool
    labels: np.ndarray  # (N,) int: class index in the training dataset, SUSPECT or NORMAL_UNLABELED
    spec: str  # e.g. "mnist5k (test split)"


def parse_normal(ds: Dataset, text: str | Sequence[int | str]) -> tuple[int, ...]:
    """Normal classes from '3', '3,5', 'cat' or a list, as sorted class indices; DatasetError if unknown."""
    if not ds.labeled:
        raise _unlabeled(ds)
    tokens = [t.strip() for t in text.split(",")] if isinstance(text, str) else [str(t) for t in text]
    out: set[int] = set()
    for t in tokens:
        if t in ds.classes:
            out.add(ds.classes.index(t))
        elif t.lstrip("-").isdigit() and 0 <= int(t) < ds.n_classes:
            out.add(int(t))
        else:
            raise DatasetError(f"{t!r} is not a class of {ds.title}; its classes are "
                               f"{', '.join(ds.classes[:20])}{' ...' if ds.n_classes > 20 else ''}")
    return tuple(sorted(out))


def _unlabeled(ds: Dataset) -> DatasetError:
    return DatasetError(f"{ds.title} has no labels, so it has no classes to call normal; leave the normal "
                        "classes out to treat every image as normal and give suspects to score")


def _check_normal(ds: Dataset, normal: tuple[int, ...] | None) -> None:
    """DatasetError unless ``normal`` fits ``ds`` (None needs nothing; classes need labels)."""
    if normal is None:
        return
    if not ds.labeled:
        raise _unlabeled(ds)
    if not normal:
        raise DatasetError("pick at least one normal class")
    if any(not 0 <= c < ds.n_classes for c in normal):
        raise DatasetError(f"normal classes must be between 0 and {ds.n_classes - 1}, got {list(normal)}")


def normal_train(ds: Dataset, normal: tuple[int, ...] | None) -> torch.Tensor:
    """The training images of the normal classes (all of them when ``normal`` is None)."""
    _check_normal(ds, normal)
    if normal is None:
        x = ds.x_train
    else:
        x = ds.x_train[torch.isin(ds.y_train, torch.tensor(normal))]
    if x.shape[0] < 2:
        raise DatasetError(f"there are only {x.shape[0]} normal training image(s); at least 2 are needed")
    return x


def eval_set(ds: Dataset, normal: tuple[int, ...] | None, eval_dataset: str | Dataset | None = None) -> EvalSet:
    """The images to score and their truth.

    Without ``eval_dataset``: the test split of ``ds``, anomalous = not a normal
    class. With a labeled ``eval_dataset`` of the same classes: its images
    scored the same way (all of it, or its test split when it is ``ds``).
    Otherwise ``eval_dataset`` holds suspects: every one counts as anomalous and
    is mixed with the normal test images of ``ds``.
    """
    _check_normal(ds, normal)
    if eval_dataset is None:
        if normal is None:
            raise DatasetError(f"{ds.title} has no labels, so every image counts as normal: give a second "
                               "dataset of suspects to score (--eval-dataset)")
        if ds.y_test is None or len(ds.x_test) == 0:
            raise DatasetError(f"{ds.title} has no labeled test images to score")
        y = ds.y_test.numpy()
        return EvalSet(ds.x_test, ~np.isin(y, normal), y.astype(np.int64), f"{ds.spec} (test split)")
    ev = load_dataset(eval_dataset) if isinstance(eval_dataset, str) else eval_dataset
    check_fits(ev, ds.shape, what=f"the model trained on {ds.title}")
    same = ev.spec == ds.spec
    if normal is not None and ev.labeled and list(ev.classes) == list(ds.classes):
        if same:
            return eval_set(ds, normal, None)
        y = torch.cat([ev.y_train, ev.y_test]).numpy()
        return EvalSet(torch.cat([ev.x_train, ev.x_test]), ~np.isin(y, normal), y.astype(np.int64), ev.spec)
    if same:
        raise DatasetError("the suspects must be a different dataset from the normal one")
    # Normal test images keep their class (-2 when unlabeled); suspects are -1: their own
    # labels, if any, name other classes.
    if normal is None:
        x_norm, y_norm = ds.x_test, np.full(len(ds.x_test), NORMAL_UNLABELED, np.int64)
    else:
        keep = torch.isin(ds.y_test, torch.tensor(normal))
        x_norm, y_norm = ds.x_test[keep], ds.y_test[keep].numpy().astype(np.int64)
    if len(x_norm) == 0:
        raise DatasetError(f"{ds.title} has no normal test images to mix with the suspects")
    sus = torch.cat([ev.x_train, ev.x_test])
    labels = np.concatenate([y_norm, np.full(len(sus), SUSPECT, np.int64)])
    is_anom = np.concatenate([np.zeros(len(x_norm), bool), np.ones(len(sus), bool)])
    return EvalSet(torch.cat([x_norm, sus]), is_anom, labels, f"{ds.spec} (normal test images) + {ev.spec}")


# --------------------------------------------------------------------------- scores


def blur_sigma(side: int) -> float:
    """The blur of the smooth score: one pixel at MNIST's 28 px scale, at least half a pixel."""
    return max(0.5, side / 28)


def _blur(x: torch.Tensor) -> torch.Tensor:
    s = blur_sigma(min(x.shape[-2:]))
    k = 2 * math.ceil(2 * s) + 1  # covers +-2 sigma
    # Reflect padding needs a kernel below each side: a side of 1 (a one-feature sequence) stays unblurred.
    kx, ky = (min(k, 2 * ((side - 1) // 2) + 1) for side in (x.shape[-1], x.shape[-2]))
    from torchvision.transforms.v2.functional import gaussian_blur  # imported on use: the app starts faster

    return gaussian_blur(x, kernel_size=[kx, ky], sigma=[s, s])


def available_scores(model: RegistryModel) -> list[str]:
    """The scores this model can give: every one, less the negative ELBO without a Gaussian encoder."""
    out = list(RECON_SCORES)
    if hasattr(model, "code_mean") and hasattr(model, "code_chol"):
        out.append("latent")
    if callable(getattr(model, "moments", None)):
        out.append("neg_elbo")
    return out


RECON_SCORES = ("relative", "smooth", "mse", "bce")  # what any reconstruction gives


def recon_scores(x: torch.Tensor, recon: torch.Tensor, names: Sequence[str] = RECON_SCORES) -> dict[str, torch.Tensor]:
    """Per-image scores (B,) of images x (B, C, H, W) against their reconstructions, for any reconstructor.

    smooth/mse/bce are per-pixel means; relative is smooth divided by the mean
    ink (pixel value) of the image plus its reconstruction.
    """
    r = recon.clamp(1e-6, 1 - 1e-6)
    out: dict[str, torch.Tensor] = {}
    if "smooth" in names or "relative" in names:
        smooth = (_blur(r) - _blur(x)).pow(2).flatten(1).mean(1)
        if "smooth" in names:
            out["smooth"] = smooth
        if "relative" in names:
            # A thick 8 has more stroke to get slightly wrong than a thin 1: per unit of ink,
            # errors of thin and thick images compare (a white background makes this ~smooth).
            out["relative"] = smooth / (x.flatten(1).mean(1) + r.flatten(1).mean(1)).clamp_min(1e-6)
    if "mse" in names:
        out["mse"] = (r - x).pow(2).flatten(1).mean(1)
    if "bce" in names:
        out["bce"] = F.binary_cross_entropy(r, x, reduction="none").flatten(1).mean(1)
    return {k: out[k] for k in names}


@torch.no_grad()
def score_images(model: RegistryModel, x: torch.Tensor, scores: Sequence[str] | None = None,
                 batch_size: int = 512, seed: int = 0) -> dict[str, np.ndarray]:
    """Per-image anomaly scores (N,) float64 by name; higher = more anomalous.

    The reconstruction scores are ``recon_scores``'; latent is the squared
    Mahalanobis distance of the code to the Gaussian fitted on the training
    codes (``fit_end``), neg_elbo the negative ELBO in nats per image
    (Bernoulli decoder, ELBO_SAMPLES draws of z, seeded).
    """
    model.eval()
    names = list(scores) if scores is not None else available_scores(model)
    unknown = [s for s in names if s not in available_scores(model)]
    if unknown:
        raise ConfigError(f"{model.name} cannot give the score(s) {', '.join(unknown)}")
    dev = next(model.parameters()).device
    gen = torch.Generator(device=dev).manual_seed(seed)
    out: dict[str, list[torch.Tensor]] = {s: [] for s in names}
    for b in x.split(batch_size):
        b = b.to(dev).float()
        r = model.reconstruct(b)  # (B, C, H, W)
        for k, v in recon_scores(b, r, [k for k in names if k in RECON_SCORES]).items():
            out[k].append(v)
        if "latent" in out:
            z = model.encode(b)  # (B, D)
            d = torch.linalg.solve_triangular(model.code_chol, (z - model.code_mean).T, upper=False)
            out["latent"].append(d.pow(2).sum(0))
        if "neg_elbo" in out:
            out["neg_elbo"].append(_neg_elbo(model, b, gen))
    return {k: torch.cat(v).double().cpu().numpy() for k, v in out.items()}


def _neg_elbo(model: Any, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """-ELBO per image (B,) in nats: E_q[-log p(x|z)] (Monte Carlo) + KL(q(z|x) || p(z)) (the model's
    prior: exact for N(0, I), averaged over the same codes for a VampPrior)."""
    mu, logvar = model.moments(x)
    rec = torch.zeros(len(x), device=x.device)
    zs = []
    for _ in range(ELBO_SAMPLES):
        z = mu + torch.randn(mu.shape, generator=gen, device=mu.device) * (0.5 * logvar).exp()
        rec += F.binary_cross_entropy_with_logits(model.decode_logits(z), x, reduction="none").flatten(1).sum(1)
        zs.append(z)
    return rec / ELBO_SAMPLES + model.kl(mu, logvar, torch.stack(zs))


def roc_auc(is_anomaly: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (scikit-learn); needs both normal and anomalous images."""
    if is_anomaly.all() or not is_anomaly.any():
        raise DatasetError("the scored images must include both normal and anomalous ones")
    from sklearn.metrics import roc_auc_score  # imported on use: the app starts faster

    return float(roc_auc_score(is_anomaly, scores))


def roc(is_anomaly: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(false-positive rate, true-positive rate, thresholds) of the ROC curve (scikit-learn)."""
    from sklearn.metrics import roc_curve

    fpr, tpr, thr = roc_curve(is_anomaly, scores)
    return fpr, tpr, thr


def at_threshold(is_anomaly: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, Any]:
    """Flag score >= threshold: precision, recall, false-positive rate and the confusion counts."""
    from sklearn.metrics import confusion_matrix

    pred = scores >= threshold
    (tn, fp), (fn, tp) = confusion_matrix(is_anomaly, pred, labels=[False, True]).tolist()
    return {"threshold": float(threshold), "tp": tp, "fp": fp, "tn": tn, "fn": fn,
            "precision": tp / (tp + fp) if tp + fp else 0.0, "recall": tp / (tp + fn) if tp + fn else 0.0,
            "fpr": fp / (fp + tn) if fp + tn else 0.0, "flagged": tp + fp}


# --------------------------------------------------------------------------- one experiment


@dataclass
class Progress:
    """What a running experiment reports: which task (normal set), and the engine's event."""

    task: int  # 0-based index of the current normal set (always 0 outside the benchmark)
    n_tasks: int
    normal: str  # the current normal classes, as text
    event: Event | None = None
    stage: str = "train"  # "train" | "score" | "done"
    auc: float | None = None  # with stage "done": the finished task's headline AUC

    @property
    def fraction(self) -> float:
        """Overall fraction done, 0..1 (training is 95% of a task, scoring the rest)."""
        inner = {"score": 0.95, "done": 1.0}.get(self.stage, 0.95 * (self.event.progress if self.event else 0.0))
        return min(1.0, (self.task + inner) / max(1, self.n_tasks))


ProgressFn = Callable[[Progress], None]


@dataclass
class AnomalyResult:
    """One trained detector's scores on the evaluation images, and how good each score is."""

    config: AnomalyConfig
    normal_names: list[str]  # the normal classes' names, or ["all of <dataset>"]
    eval_spec: str
    is_anomaly: np.ndarray  # (N,) bool
    labels: np.ndarray  # (N,) int: class index, SUSPECT or NORMAL_UNLABELED (see EvalSet)
    classes: list[str]
    scores: dict[str, np.ndarray]  # name -> (N,)
    train_scores: dict[str, np.ndarray]  # name -> scores of the normal training images
    aucs: dict[str, float]
    n_train: int
    seconds: float  # training time
    status: str  # finished | stopped | diverged
    message: str
    history: dict[str, list[float]] = field(default_factory=dict)
    examples: dict[str, dict[str, Any]] = field(default_factory=dict)  # score -> most/least anomalous
    model: RegistryModel | None = field(default=None, repr=False)
    kind: str = "image"  # the data's kind ("image" | "sequence"): how the examples are drawn

    @property
    def roc_auc(self) -> float:
        """The AUC of the headline score."""
        return self.aucs[self.config.score]

    def default_threshold(self, score: str) -> float:
        """A starting threshold: the one that flags 5% of the normal images scored.

        Not a percentile of the training images' scores: the model has seen
        those, so they score lower than unseen normal images and such a
        threshold flags far more than 5% of them.
        """
        return float(np.quantile(self.scores[score][~self.is_anomaly], 0.95))

    def summary(self) -> dict[str, Any]:
        """The JSON of `python -m core anomaly` (roc_auc, normal, n are a contract)."""
        c = self.config
        return {"roc_auc": round(self.roc_auc, 4), "normal": list(c.normal) if c.normal is not None else None,
                "normal_names": self.normal_names, "n": int(len(self.is_anomaly)),
                "n_anomalous": int(self.is_anomaly.sum()), "n_train": self.n_train, "score": c.score,
                "scores": {k: round(v, 4) for k, v in self.aucs.items()}, "model": c.model,
                "dataset": spec_of(c.dataset), "eval": self.eval_spec, "seed": c.seed, "epochs": c.epochs,
                "train_seconds": round(self.seconds, 2), "status": self.status}


def _load(dataset: str | Dataset) -> Dataset:
    return dataset if isinstance(dataset, Dataset) else load_dataset(dataset)


def spec_of(dataset: str | Dataset | None) -> str | None:
    """A dataset's spec, whether given as a spec or as a parsed Dataset."""
    return dataset.spec if isinstance(dataset, Dataset) else dataset


def _normal_names(ds: Dataset, normal: tuple[int, ...] | None) -> list[str]:
    return [ds.classes[c] for c in normal] if normal is not None else [f"all of {ds.title}"]


def run_anomaly(config: AnomalyConfig, on_progress: ProgressFn | None = None,
                stop: threading.Event | None = None, *, dataset: Dataset | None = None,
                task: tuple[int, int] = (0, 1), keep_model: bool = True,
                example_scores: Sequence[str] | None = None) -> AnomalyResult:
    """Train ``config.model`` on the normal training images, score the evaluation images, measure AUCs.

    ``example_scores`` limits the scores whose most/least anomalous images are
    kept (default: all); ``keep_model=False`` drops the model from the result.
    """
    cfg = config.validate()
    ds = dataset if dataset is not None else _load(cfg.dataset)
    x_train = normal_train(ds, cfg.normal)
    ev = eval_set(ds, cfg.normal, cfg.eval_dataset)
    if ev.is_anomaly.all() or not ev.is_anomaly.any():  # say so before training, not after
        raise DatasetError("every image scored is normal: leave at least one class out of the normal ones"
                           if not ev.is_anomaly.any() else "there are no normal images to score")
    names = _normal_names(ds, cfg.normal)
    report = on_progress or (lambda p: None)
    label = ", ".join(names)

    seed_everything(cfg.seed)
    model = build_model(cfg.model, cfg.model_config, ds.shape, 0)
    if cfg.score not in available_scores(model):
        raise ConfigError(f"the {cfg.score} score needs a VAE; {get_spec(cfg.model).title} cannot give it")
    t0 = time.perf_counter()
    result = train(model, (x_train, None), cfg.train_config(),
                   on_event=lambda e: report(Progress(task[0], task[1], label, e)), stop=stop)
    seconds = time.perf_counter() - t0
    report(Progress(task[0], task[1], label, None, "score"))
    model.cpu()
    scores = score_images(model, ev.x, seed=cfg.seed)
    train_scores = score_images(model, x_train, seed=cfg.seed)
    aucs = {k: roc_auc(ev.is_anomaly, v) for k, v in scores.items()}
    examples = {k: _examples(model, ev.x, v) for k, v in scores.items()
                if example_scores is None or k in example_scores}
    # The result names its data by spec: it may cross to another process, and the datasets stay behind.
    kept = replace(cfg, dataset=ds.spec, eval_dataset=spec_of(cfg.eval_dataset))
    out = AnomalyResult(kept, names, ev.spec, ev.is_anomaly, ev.labels, list(ds.classes), scores, train_scores,
                        aucs, int(len(x_train)), seconds, result.status, result.reason, result.history,
                        examples, model if keep_model else None, getattr(ds, "kind", "image"))
    report(Progress(task[0], task[1], label, None, "done", out.roc_auc))
    return out


@torch.no_grad()
def _examples(model: RegistryModel, x: torch.Tensor, scores: np.ndarray, k: int = EXAMPLES) -> dict[str, Any]:
    """The k most and k least anomalous images by ``scores``, with their reconstructions and scores."""
    order = np.argsort(-scores, kind="stable")
    out: dict[str, Any] = {}
    for name, idx in (("most", order[:k]), ("least", order[::-1][:k])):
        imgs = x[torch.as_tensor(idx.copy())]
        # numpy, not tensors: a result crosses from the worker process by value, not through shared memory
        out[name] = {"index": idx.tolist(), "score": scores[idx].tolist(), "images": imgs.numpy().copy(),
                     "recons": model.reconstruct(imgs).clamp(0, 1).numpy()}
    return out


# --------------------------------------------------------------------------- the one-class benchmark


@dataclass
class BenchmarkResult:
    """Each class in turn as the normal one: the AUC of every score per class, and their means."""

    config: AnomalyConfig  # normal is ignored: every class takes its turn
    classes: list[str]
    results: list[AnomalyResult]  # one per completed class, in order (no models; headline examples only)
    status: str  # finished | stopped
    seconds: float

    @property
    def per_class(self) -> dict[str, float]:
        """Class name -> AUC of the headline score."""
        return {self.classes[r.config.normal[0]]: r.roc_auc for r in self.results}

    @property
    def mean_roc_auc(self) -> float:
        """Mean headline AUC over the completed classes (nan before any)."""
        vals = list(self.per_class.values())
        return float(np.mean(vals)) if vals else float("nan")

    def mean_by_score(self) -> dict[str, float]:
        """Mean AUC per score over the completed classes."""
        keys = self.results[0].aucs if self.results else {}
        return {k: float(np.mean([r.aucs[k] for r in self.results])) for k in keys}

    def rows(self) -> list[dict[str, Any]]:
        """One row per class: AUC per score, training seconds and the Deep SVDD reference (MNIST)."""
        return [{"class": self.classes[r.config.normal[0]], **{k: v for k, v in r.aucs.items()},
                 "seconds": r.seconds, "deep_svdd": self.reference(r.config.normal[0])} for r in self.results]

    def reference(self, cls: int) -> float | None:
        """Deep SVDD's published AUC for this class when the data is MNIST digits, else None."""
        return DEEP_SVDD_MNIST.get(cls) if spec_of(self.config.dataset) in ("mnist5k", "mnist") else None

    def summary(self) -> dict[str, Any]:
        """The JSON of `python -m core anomaly --normal all` (per_class, mean_roc_auc are a contract)."""
        c = self.config
        return {"per_class": {k: round(v, 4) for k, v in self.per_class.items()},
                "mean_roc_auc": round(self.mean_roc_auc, 4) if self.results else None, "normal": "all", "score": c.score,
                "mean_by_score": {k: round(v, 4) for k, v in self.mean_by_score().items()},
                "n": int(len(self.results[0].is_anomaly)) if self.results else 0,
                "model": c.model, "dataset": spec_of(c.dataset), "seed": c.seed, "epochs": c.epochs,
                "seconds_per_class": {self.classes[r.config.normal[0]]: round(r.seconds, 2) for r in self.results},
                "seconds": round(self.seconds, 2), "status": self.status}


def run_benchmark(config: AnomalyConfig, on_progress: ProgressFn | None = None,
                  stop: threading.Event | None = None, classes: Sequence[int] | None = None) -> BenchmarkResult:
    """The one-class protocol: each class (or each of ``classes``) in turn normal; stops between classes."""
    cfg = config.validate()
    ds = _load(cfg.dataset)
    if not ds.labeled or ds.n_classes < 2:
        raise DatasetError(f"the one-class benchmark needs a labeled dataset with at least 2 classes; "
                           f"{ds.title} has {'none' if not ds.labeled else 'one'}")
    todo = list(range(ds.n_classes)) if classes is None else [int(c) for c in classes]
    _check_normal(ds, tuple(todo))
    stop = stop or threading.Event()
    t0, done, status = time.perf_counter(), [], "finished"
    for i, c in enumerate(todo):
        if stop.is_set():
            status = "stopped"
            break
        # Ten results stay in memory per browser tab: keep images for the headline score only.
        r = run_anomaly(replace(cfg, normal=(c,)), on_progress, stop, dataset=ds, task=(i, len(todo)),
                        keep_model=False, example_scores=[cfg.score])
        if r.status == "stopped":  # a class cut short is not a fair number: leave it out
            status = "stopped"
            break
        done.append(r)
    kept = replace(cfg, dataset=ds.spec, eval_dataset=spec_of(cfg.eval_dataset))
    return BenchmarkResult(kept, list(ds.classes), done, status, time.perf_counter() - t0)
