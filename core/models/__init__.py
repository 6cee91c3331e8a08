"""The model registry: one entry per family, each with a typed config.

``MODELS[name]`` gives the model class, its config dataclass and the text the
UI shows. ``build_model(name, config, shape, n_classes)`` is the one way to
make a model, for training and for loading a saved run alike.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any

from .autoencoders import AE, CAE, VAE, AEConfig, CAEConfig, VAEConfig
from .base import Classifier, LatentModel, RegistryModel, Shape
from .classifiers import CNN, CNNConfig, Hybrid, HybridConfig
from .gan import GAN, GANConfig


class ConfigError(ValueError):
    """A model name or config value that the registry does not accept."""


@dataclass(frozen=True)
class ModelSpec:
    """One registry entry."""

    name: str
    title: str
    model_cls: type[RegistryModel]
    config_cls: type
    description: str
    loss_latex: str

    @property
    def family(self) -> str:
        """"latent" (AE, CAE, VAE, GAN) or "classifier" (CNN, hybrid)."""
        return self.model_cls.family


MODELS: dict[str, ModelSpec] = {
    "ae": ModelSpec(
        "ae", "Autoencoder (MLP)", AE, AEConfig,
        "Fully connected layers squeeze each image into a small code and expand it back. "
        "Optional input noise makes it a denoising AE; an L1 penalty makes the code sparse.",
        r"\mathcal{L} = \mathrm{BCE}\big(x,\ g(f(\tilde x))\big) + \lambda_1 \lVert f(\tilde x)\rVert_1"),
    "cae": ModelSpec(
        "cae", "Convolutional autoencoder", CAE, CAEConfig,
        "Strided convolutions find local strokes and shapes, a linear layer makes the code, "
        "and transposed convolutions paint the image back. Sharper than the MLP AE for images.",
        r"\mathcal{L} = \mathrm{BCE}\big(x,\ g(f(x))\big)"),
    "vae": ModelSpec(
        "vae", "Variational autoencoder", VAE, VAEConfig,
        "The encoder outputs a Gaussian per image; a KL term pulls those towards N(0, I), "
        "so the latent space is smooth and you can sample new images from the prior.",
        r"\mathcal{L} = \mathrm{BCE}\big(x,\ g(z)\big) + \beta\,"
        r"\mathrm{KL}\big(\mathcal{N}(\mu(x), \sigma^2(x)) \,\|\, \mathcal{N}(0, I)\big),\ "
        r"z = \mu + \sigma \odot \varepsilon"),
    "gan": ModelSpec(
        "gan", "GAN (DCGAN)", GAN, GANConfig,
        "A generator turns noise into images and a discriminator tells real from fake; they "
        "train against each other. No encoder: codes for real images are found by optimisation "
        "(approximate).",
        r"\min_G \max_D\ \mathbb{E}_x[\log D(x)] + \mathbb{E}_z[\log(1 - D(G(z)))]"),
    "cnn": ModelSpec(
        "cnn", "Plain CNN classifier", CNN, CNNConfig,
        "A convolutional classifier trained on the labeled images only.",
        r"\mathcal{L} = \mathrm{CE}\big(y,\ h(f(x))\big)"),
    "hybrid": ModelSpec(
        "hybrid", "AE+CNN hybrid classifier", Hybrid, HybridConfig,
        "The CNN's front end doubles as an autoencoder's encoder: every image, labeled or "
        "not, teaches it through the reconstruction loss; labeled ones also through "
        "cross-entropy.",
        r"\mathcal{L} = \mathrm{CE}\big(y,\ h(f(x))\big)\,[x \text{ labeled}] "
        r"+ \lambda\,\mathrm{BCE}\big(x,\ g(f(x))\big)"),
}

LATENT_MODELS = [n for n, s in MODELS.items() if s.family == "latent"]
CLASSIFIERS = [n for n, s in MODELS.items() if s.family == "classifier"]


def get_spec(name: str) -> ModelSpec:
    """The registry entry for ``name``, or a ConfigError listing the valid names."""
    try:
        return MODELS[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}") from None


def _coerce(name: str, value: Any, hint: Any) -> Any:
    """Check/convert one config value to its declared type (JSON gives lists, ints for floats)."""
    origin = typing.get_origin(hint)
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or not value:
            raise ConfigError(f"config {name!r} must be a non-empty list of integers, got {value!r}")
        try:
            out = tuple(int(v) for v in value)
        except (TypeError, ValueError):
            raise ConfigError(f"config {name!r} must be a list of integers, got {value!r}") from None
        if any(v <= 0 for v in out):
            raise ConfigError(f"config {name!r} must be positive, got {value!r}")
        return out
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"config {name!r} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int) and not (
                isinstance(value, float) and value.is_integer()):
            raise ConfigError(f"config {name!r} must be an integer, got {value!r}")
        return int(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"config {name!r} must be a number, got {value!r}")
        if value != value or value in (float("inf"), float("-inf")):
            raise ConfigError(f"config {name!r} must be finite, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"config {name!r} must be text, got {value!r}")
        return value
    return value


_CHOICES = {"arch": ("conv", "mlp")}
_NON_NEGATIVE = {"noise", "sparsity", "beta", "lam", "dropout", "encode_lr"}


def make_config(name: str, values: dict[str, Any] | None = None) -> Any:
    """A typed config for model ``name``; unknown keys and bad values raise ConfigError."""
    spec = get_spec(name)
    values = dict(values or {})
    hints = typing.get_type_hints(spec.config_cls)
    fields = {f.name for f in dataclasses.fields(spec.config_cls)}
    unknown = sorted(set(values) - fields)
    if unknown:
        raise ConfigError(f"unknown option(s) for {name}: {', '.join(unknown)}; "
                          f"valid: {', '.join(sorted(fields))}")
    clean = {k: _coerce(k, v, hints[k]) for k, v in values.items()}
    for k, v in clean.items():
        if k in _CHOICES and v not in _CHOICES[k]:
            raise ConfigError(f"config {k!r} must be one of {_CHOICES[k]}, got {v!r}")
        if k in _NON_NEGATIVE and v < 0:
            raise ConfigError(f"config {k!r} must be >= 0, got {v!r}")
    cfg = spec.config_cls(**clean)
    if getattr(cfg, "latent_dim", 1) < 1 or getattr(cfg, "latent_dim", 1) > 1024:
        raise ConfigError("latent_dim must be between 1 and 1024")
    if getattr(cfg, "dropout", 0.0) >= 1:
        raise ConfigError("dropout must be below 1")
    return cfg


def build_model(name: str, config: Any = None, shape: Shape = (1, 28, 28),
                n_classes: int = 0) -> RegistryModel:
    """Make model ``name`` for images of ``shape`` (C, H, W) from a config or a dict."""
    spec = get_spec(name)
    if config is None or isinstance(config, dict):
        config = make_config(name, config)
    elif not isinstance(config, spec.config_cls):
        raise ConfigError(f"{name} needs a {spec.config_cls.__name__}, got {type(config).__name__}")
    if spec.family == "classifier" and n_classes < 2:
        raise ConfigError(f"{spec.title} needs a labeled dataset with at least 2 classes")
    return spec.model_cls(config, tuple(shape), n_classes)


__all__ = ["MODELS", "LATENT_MODELS", "CLASSIFIERS", "ModelSpec", "ConfigError", "get_spec",
           "make_config", "build_model", "LatentModel", "Classifier", "RegistryModel", "Shape"]
