"""The model registry: one ModelSpec per family (see core.models.spec).

``MODELS[name]`` gives the model class, its typed config (whose fields carry
each knob's label, help and limits), the text the UI shows, the training
defaults and the capabilities. ``build_model(name, config, shape, n_classes)``
is the one way to make a model, for training and for loading a saved run
alike. Adding a family = one file with its model and config + one
``register(ModelSpec(...))``: every page, the CLI and the run store then work
with it.
"""
from __future__ import annotations

from typing import Any

from .autoencoders import AE, CAE, VAE, AEConfig, CAEConfig, VAEConfig, upgrade_vae_config
from .base import Classifier, LatentModel, RegistryModel, Shape
from .classifiers import CNN, CNNConfig, Hybrid, HybridConfig
from .gan import GAN, GANConfig, upgrade_config as _gan_upgrade
from ..limits import LimitError, limits
from .spec import ConfigError, Knob, ModelSpec, check_model_size, knob, make_config_for
from .sequence import SeqAE, SeqAEConfig, upgrade_config as _seqae_upgrade
from .supervised import SAE, SAEConfig

MODELS: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Add a family to the registry (its name must be new); returns the spec."""
    if spec.name in MODELS:
        raise ConfigError(f"a model family named {spec.name!r} is already registered")
    MODELS[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove a family (for tests that register a temporary one)."""
    MODELS.pop(name, None)


for _spec in (
    ModelSpec(
        "ae", "Autoencoder (MLP)", AE, AEConfig,
        "Fully connected layers squeeze each image into a small code and expand it back. "
        "Optional input noise makes it a denoising AE; an L1 penalty makes the code sparse.",
        r"\mathcal{L} = \mathrm{BCE}\big(x,\ g(f(\tilde x))\big) + \lambda_1 \lVert f(\tilde x)\rVert_1",
        train_defaults={"epochs": 15, "batch_size": 64, "lr": 2e-3}),
    ModelSpec(
        "cae", "Convolutional autoencoder", CAE, CAEConfig,
        "Strided convolutions find local strokes and shapes, a linear layer makes the code, "
        "and transposed convolutions paint the image back. Sharper than the MLP AE for images.",
        r"\mathcal{L} = \mathrm{BCE}\big(x,\ g(f(x))\big)",
        # 8 epochs at lr 5e-3 reach the BCE of the former 12 at 2e-3 in two thirds of the time (median of 3
        # seeds on mnist5k: 0.0829 vs 0.0830; 4e-3, not on the form's steps, 0.0826; 7 epochs at 5e-3: 0.0838;
        # a cosine decay was worse; bench/quality.py).
        train_defaults={"epochs": 8, "batch_size": 64, "lr": 5e-3}),
    ModelSpec(
        "vae", "Variational autoencoder", VAE, VAEConfig,
        "The encoder outputs a Gaussian per image; a KL term pulls those towards a prior p(z), "
        "so the latent space is smooth and you can sample new images from the prior. The prior is "
        "a VampPrior by default (a mixture of the encoder's Gaussians at a few learned "
        "pseudo-images); choose prior = normal for the classic N(0, I).",
        r"\begin{gathered}\mathcal{L} = \mathrm{BCE}\big(x,\ g(z)\big) + \beta\,"
        r"\mathrm{KL}\big(\mathcal{N}(\mu(x), \sigma^2(x)) \,\|\, p(z)\big),\ "
        r"z = \mu + \sigma \odot \varepsilon \\ "
        r"p(z) = \tfrac{1}{K}\textstyle\sum_k \mathcal{N}\big(\mu(u_k), \sigma^2(u_k)\big) "
        r"\text{ (VampPrior) or } \mathcal{N}(0, I)\end{gathered}",
        # 40 epochs at lr 5e-3: with random shifts the test -ELBO keeps falling to the end (mnist5k,
        # median of 3 seeds: 100.0 nats after 38 epochs, 99.8 after 40, 99.7 after 42, 99.5 after 45,
        # 99.3 after 50; 40 take 25-28 s on 2 cores, depending on the machine's load); 20 at 3e-3 was
        # the best without them (bench/quality.py).
        train_defaults={"epochs": 40, "batch_size": 64, "lr": 5e-3, "lr_schedule": "cosine"},
        loss_unit="nats per image", upgrade=upgrade_vae_config),
    ModelSpec(
        "seqae", "Sequence autoencoder (GRU/LSTM)", SeqAE, SeqAEConfig,
        "A recurrent network reads the data step by step (by default two rows of an image, or two samples of "
        "a signal, a step), and its state after the last step is the code; a second recurrent network, given "
        "the code at every step, writes the steps back. Where the CAE's convolutions see small patches of the "
        "whole picture at once, this model sees a couple of rows at a time plus what it remembers, so the "
        "code must carry the rows' order and shapes through time. That makes it work on sequences of any "
        "kind, such as signals and sensor traces, not only on images.",
        r"\begin{gathered}h_t = \mathrm{GRU}(h_{t-1}, x_t),\ z = W h_T\\ "
        r"\hat x_t = \sigma\big(V\,[\overrightarrow{s}_t, \overleftarrow{s}_t]\big),\ "
        r"s_t = \mathrm{GRU}(s_{t\mp1}, [z, e_t])\\ \mathcal{L} = \mathrm{BCE}(x, \hat x)\end{gathered}",
        train_defaults={"epochs": 20, "batch_size": 64, "lr": 1e-2, "lr_schedule": "cosine"},
        upgrade=_seqae_upgrade),
    ModelSpec(
        "sae", "Supervised autoencoder", SAE, SAEConfig,
        "An autoencoder whose code also feeds a small linear classifier: the loss adds alpha times the "
        "cross-entropy of the predicted label, so images of one class get codes close together and the "
        "classes separate in the latent space. With tied weights the decoder reuses the encoder's weights, "
        "transposed. Needs a labeled dataset.",
        r"\mathcal{L} = \mathrm{BCE}\big(x,\ g(f(x))\big) + \alpha\,\mathrm{CE}\big(y,\ "
        r"\mathrm{softmax}(A f(x) + b)\big),\quad \text{tied: } g \text{ uses } W_i^{\top}",
        train_defaults={"epochs": 12, "batch_size": 64, "lr": 2e-3}),
    ModelSpec(
        "gan", "GAN (DCGAN)", GAN, GANConfig,
        "A generator turns noise into images and a discriminator tells real from fake; they "
        "train against each other. The images you see come from a running average of the generator's "
        "weights, steadier than the generator itself. An encoder learns alongside to invert the "
        "generator (from its own fakes, and by rebuilding real images through it), so real images get "
        "codes in one pass.",
        r"\begin{gathered}\min_G \max_D\ \mathbb{E}_x[\log D(x)] + \mathbb{E}_z[\log(1 - D(G(z)))]\\ "
        r"\min_E\ \mathbb{E}_z \lVert E(\bar G(z)) - z \rVert^2 "
        r"+ \mathbb{E}_x\,\mathrm{BCE}\big(x,\ \bar G(E(x))\big)\\ "
        r"\bar G:\ \text{a running average of } G\text{'s weights}\end{gathered}",
        # width 32 and lr 2e-3 (not DCGAN's 64 and 2e-4): on mnist5k, FD 48-81 in 15-20 epochs
        # instead of 186 in 20, at about half the cost per step; with depth 2, the generator's
        # average and a 2x discriminator step, FD 15-38 over 5 seeds (median 23.6) in the same 15
        # epochs; 20 epochs: 13-28 (median 22.0) in about 66 s (bench/gan_quality.py --seeds 5), on
        # 2026-12-07's ~2x slower machine 110-128 s; with channels-last weights and G's step stopping at G:
        # 10-26 (median 20.1), 0.84x the time a step.
        train_defaults={"epochs": 20, "batch_size": 64, "lr": 2e-3}, preview="samples",
        # Its two networks gain 1.68x from a second thread: on one, the GAN preset from a browser here
        # trained 1.23x slower (223 s against 182; bench/first_minute.py --remote-baseline --presets).
        upgrade=_gan_upgrade, spare_core=False),
    ModelSpec(
        "cnn", "Plain CNN classifier", CNN, CNNConfig,
        "A convolutional classifier trained on the labeled images only.",
        r"\mathcal{L} = \mathrm{CE}\big(y,\ h(f(x))\big)",
        train_defaults={"epochs": 10, "batch_size": 64, "lr": 2e-3}, legacy_keys=("decay_steps",)),
    ModelSpec(
        "hybrid", "AE+CNN hybrid classifier", Hybrid, HybridConfig,
        "The CNN's front end doubles as an autoencoder's encoder: every image, labeled or "
        "not, teaches it through the reconstruction loss; labeled ones also through "
        "cross-entropy.",
        r"\mathcal{L} = \mathrm{CE}\big(y,\ h(f(x))\big)\,[x \text{ labeled}] "
        r"+ \lambda\,\mathrm{BCE}\big(x,\ g(f(x))\big)",
        train_defaults={"epochs": 10, "batch_size": 64, "lr": 2e-3}, legacy_keys=("decay_steps",)),
):
    register(_spec)

DEFAULT_MODEL = "cae"  # what the Train form offers first: sharp reconstructions in seconds
LATENT_MODELS = [n for n, s in MODELS.items() if s.is_latent]  # the built-in families
CLASSIFIERS = [n for n, s in MODELS.items() if s.family == "classifier"]


def get_spec(name: str) -> ModelSpec:
    """The registry entry for ``name``, or a ConfigError listing the valid names."""
    try:
        return MODELS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}") from None


def make_config(name: str, values: dict[str, Any] | None = None) -> Any:
    """A typed config for model ``name``; unknown keys and bad values raise ConfigError."""
    return make_config_for(get_spec(name), values)


def build_model(name: str, config: Any = None, shape: Shape = (1, 28, 28),
                n_classes: int = 0) -> RegistryModel:
    """Make model ``name`` for images of ``shape`` (C, H, W) from a config or a dict."""
    spec = get_spec(name)
    if config is None or isinstance(config, dict):
        config = make_config(name, config)
    elif not isinstance(config, spec.config_cls):
        raise ConfigError(f"{name} needs a {spec.config_cls.__name__}, got {type(config).__name__}")
    if spec.needs_labels and n_classes < 2:
        raise ConfigError(f"{spec.title} needs a labeled dataset with at least 2 classes")
    try:
        lim = limits()
    except LimitError as e:
        raise ConfigError(str(e)) from None
    if n_classes > lim.classes:
        raise ConfigError(f"{spec.title} for {n_classes:,} classes: more than the limit of {lim.classes} "
                          "(LATENT_LAB_MAX_CLASSES)")
    check_model_size(spec, config, tuple(shape), n_classes, lim.model_params)  # before allocating anything
    model = spec.model_cls(config, tuple(shape), n_classes)
    model.name = spec.name  # the registry is the one place a family's name is written
    return model


__all__ = ["MODELS", "DEFAULT_MODEL", "LATENT_MODELS", "CLASSIFIERS", "ModelSpec", "Knob", "knob", "ConfigError",
           "get_spec", "register", "unregister", "make_config", "build_model", "LatentModel",
           "Classifier", "RegistryModel", "Shape"]
