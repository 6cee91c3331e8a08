"""What the registry knows about a model family: its spec, its knobs, and config checking.

A ``ModelSpec`` carries everything about one family (AntixK/PyTorch-VAE's
``vae_models`` dict, made typed): the model class and its config dataclass, the
text the UI shows, the training defaults, what the family can do
(capabilities), and, through the config's field metadata, each knob's label,
help, limits and choices. Pages and the CLI ask the spec; none names a family.

A config field becomes a knob by declaring it with :func:`knob`; fields without
one are still checked for their type but are not offered on the Train form.
"""
from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from typing import Any, Callable


class ConfigError(ValueError):
    """A model name or config value that the registry does not accept."""


@dataclass(frozen=True)
class Knob:
    """A config field's metadata: how to offer it (label, help, options) and its limits.

    ``lo``/``hi`` are inclusive limits and ``below`` an exclusive upper limit,
    checked whenever a config is made; ``choices`` are the only values allowed.
    ``options`` (discrete values) or ``step`` (a slider from ``lo`` to
    ``ui_hi``) only shape the widget; ``form=False`` keeps an expert knob off
    the Train form.
    """

    label: str
    help: str = ""
    lo: float | None = None
    hi: float | None = None
    below: float | None = None
    choices: tuple[Any, ...] | None = None
    options: tuple[Any, ...] | None = None
    step: float | None = None
    ui_hi: float | None = None
    form: bool = True  # offered on the Train form (False: checked, but set only from code or --set)


def knob(default: Any, label: str, help: str = "", **limits: Any) -> Any:
    """A dataclass field with a default and its Knob (see Knob for the keywords)."""
    return field(default=default, metadata={"knob": Knob(label, help, **limits)})


@dataclass(frozen=True)
class ModelSpec:
    """One registry entry: the family's class, config, prose, training defaults and capabilities."""

    name: str
    title: str
    model_cls: type
    config_cls: type
    description: str
    loss_latex: str
    train_defaults: dict[str, Any] = field(default_factory=dict)  # epochs, batch_size, lr
    preview: str = "pairs"  # what the live preview shows: "pairs" (original + reconstruction) | "samples"
    loss_unit: str = ""  # what the training loss is measured in, for the live chart's axis
    legacy_keys: tuple[str, ...] = ()  # config keys of older runs, dropped when such a run loads
    # Rewrites an older run's config dict into today's keys before it is checked
    # (for changes that dropping keys cannot express, e.g. a part that older runs lack).
    upgrade: Callable[[dict[str, Any]], dict[str, Any]] | None = None

    @property
    def family(self) -> str:
        """"latent" (has a latent space to explore) or "classifier"."""
        return self.model_cls.family

    @property
    def is_latent(self) -> bool:
        """Encodes images to codes and decodes codes to images (every latent page works)."""
        return self.family == "latent"

    @property
    def approximate_encoder(self) -> bool:
        """Its codes for real images come from an optimisation, not an encoder network."""
        return bool(getattr(self.model_cls, "approximate_encoder", False))

    @property
    def can_sample(self) -> bool:
        """Can draw new images from a prior."""
        return self.is_latent

    @property
    def reconstructs(self) -> bool:
        """Rebuilds its input images (autoencoders, GANs through their encoder, the hybrid)."""
        return callable(getattr(self.model_cls, "reconstruct", None))

    @property
    def needs_labels(self) -> bool:
        """Needs a labeled dataset to train."""
        return self.family == "classifier"

    @property
    def noun(self) -> str:
        """The title with its article, lower-cased: 'an autoencoder (MLP)', 'a GAN (DCGAN)'."""
        words = self.title.split(" ")
        first = words[0] if words[0].isupper() else words[0].lower()
        text = " ".join([first, *words[1:]])
        return f"{'an' if first[0].lower() in 'aeiou' else 'a'} {text}"

    def knobs(self) -> list[tuple[str, Knob, Any]]:
        """(field name, Knob, default) for every config field offered on the Train form."""
        return [(f.name, f.metadata["knob"], f.default) for f in dataclasses.fields(self.config_cls)
                if "knob" in f.metadata and f.metadata["knob"].form]


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
        if not math.isfinite(value):
            raise ConfigError(f"config {name!r} must be finite, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"config {name!r} must be text, got {value!r}")
        return value
    return value


def _check_limits(name: str, value: Any, k: Knob) -> None:
    """Raise ConfigError when a value breaks its knob's choices or limits."""
    if k.choices is not None and value not in k.choices:
        raise ConfigError(f"config {name!r} must be one of {k.choices}, got {value!r}")
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return
    if k.lo is not None and k.hi is not None and not k.lo <= value <= k.hi:
        raise ConfigError(f"config {name!r} must be between {k.lo:g} and {k.hi:g}, got {value!r}")
    if k.lo is not None and value < k.lo:
        raise ConfigError(f"config {name!r} must be >= {k.lo:g}, got {value!r}")
    if k.hi is not None and value > k.hi:
        raise ConfigError(f"config {name!r} must be <= {k.hi:g}, got {value!r}")
    if k.below is not None and value >= k.below:
        raise ConfigError(f"config {name!r} must be below {k.below:g}, got {value!r}")


def make_config_for(spec: ModelSpec, values: dict[str, Any] | None = None) -> Any:
    """A typed, checked config for ``spec``; unknown keys and bad values raise ConfigError."""
    values = dict(values or {})
    if spec.upgrade is not None:
        values = spec.upgrade(values)
    values = {k: v for k, v in values.items() if k not in spec.legacy_keys}
    hints = typing.get_type_hints(spec.config_cls)
    fields = {f.name: f for f in dataclasses.fields(spec.config_cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"unknown option(s) for {spec.name}: {', '.join(unknown)}; "
                          f"valid: {', '.join(sorted(fields))}")
    clean = {k: _coerce(k, v, hints[k]) for k, v in values.items()}
    for k, v in clean.items():
        if "knob" in fields[k].metadata:
            _check_limits(k, v, fields[k].metadata["knob"])
    return spec.config_cls(**clean)
