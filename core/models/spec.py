"""What the registry knows about a model family: its spec, its knobs, and config checking.

A ``ModelSpec`` carries everything about one family (AntixK/PyTorch-VAE's
``vae_models`` dict, made typed): the model class and its config dataclass, the
text the UI shows, the training defaults, what the family can do
(capabilities), and, through the config's field metadata, each knob's label,
help, limits and choices. Pages and the CLI ask the spec; none names a family.

A config field becomes a knob by declaring it with :func:`knob`; fields without
one are still checked for their type but are not offered on the Train form.
A knob's limits are also what keeps a saved run (an untrusted file) from
asking for a huge model: every field that sizes a model (latent size, layer
widths and their number, encoder steps) declares them, and
:func:`check_model_size` counts the parameters on PyTorch's meta device (no
memory) against ``core.limits`` before a model is built for real.
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
    checked whenever a config is made (for a tuple, on each element, and
    ``max_len`` bounds its length); ``choices`` are the only values allowed.
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
    max_len: int | None = None  # tuples (layer widths): at most this many elements
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
    # Whether a training started from a browser on the server's machine leaves that browser a core
    # (core.jobs.job_threads): true where a second thread gains the family less than the browser's drawing
    # costs it. A step on 2 threads against 1, alone: CAE 1.40x, VAE 1.19x faster; the first preset (CAE)
    # from a browser here trained in 0.80-0.93x the time on one thread, the 2-D VAE preset in 0.83-0.96x
    # (bench/first_minute.py --remote-baseline; issue 23).
    spare_core: bool = True

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
        """Needs a labeled dataset to train (classifiers, and latent models that learn from labels)."""
        return self.family == "classifier" or bool(getattr(self.model_cls, "needs_labels", False))

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
            raise ConfigError(f"config {name!r} must be a non-empty list of integers, got {_show(value)}")
        if len(value) > 64:  # far beyond any knob's max_len; keeps the message and the work small
            raise ConfigError(f"config {name!r} has {len(value):,} entries, far too many")
        if not all(isinstance(v, int) and not isinstance(v, bool)
                   or isinstance(v, float) and v.is_integer() for v in value):
            raise ConfigError(f"config {name!r} must be a list of integers, got {_show(value)}")
        out = tuple(int(v) for v in value)
        if any(v <= 0 for v in out):
            raise ConfigError(f"config {name!r} must be positive, got {_show(value)}")
        return out
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"config {name!r} must be true or false, got {_show(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int) and not (
                isinstance(value, float) and value.is_integer()):
            raise ConfigError(f"config {name!r} must be an integer, got {_show(value)}")
        return int(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"config {name!r} must be a number, got {_show(value)}")
        try:
            value = float(value)  # an int too large for a float raises OverflowError
        except OverflowError:
            value = math.inf
        if not math.isfinite(value):
            raise ConfigError(f"config {name!r} must be a finite number, got {_show(value)}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"config {name!r} must be text, got {_show(value)}")
        return value
    return value


def _show(value: Any) -> str:
    """A value for an error message: its repr, cut short (a hostile run.json may hold anything)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_limits(name: str, value: Any, k: Knob) -> None:
    """Raise ConfigError when a value breaks its knob's choices or limits (each element of a tuple)."""
    if k.choices is not None and value not in k.choices:
        raise ConfigError(f"config {name!r} must be one of {k.choices}, got {_show(value)}")
    if isinstance(value, tuple):
        if k.max_len is not None and len(value) > k.max_len:
            raise ConfigError(f"config {name!r} may have at most {k.max_len} entries, got {len(value)}")
        for v in value:
            _check_limits(name, v, dataclasses.replace(k, choices=None, max_len=None))
        return
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return
    if k.lo is not None and k.hi is not None and not k.lo <= value <= k.hi:
        raise ConfigError(f"config {name!r} must be between {k.lo:g} and {k.hi:g}, got {_show(value)}")
    if k.lo is not None and value < k.lo:
        raise ConfigError(f"config {name!r} must be >= {k.lo:g}, got {_show(value)}")
    if k.hi is not None and value > k.hi:
        raise ConfigError(f"config {name!r} must be <= {k.hi:g}, got {_show(value)}")
    if k.below is not None and value >= k.below:
        raise ConfigError(f"config {name!r} must be below {k.below:g}, got {_show(value)}")


def checked_value(name: str, value: Any, hint: Any, k: Knob) -> Any:
    """One value converted to ``hint`` and checked against knob ``k`` (ConfigError naming ``name``).

    For a family's ``upgrade``: an older run's key is checked under its own name
    before it is mapped onto today's.
    """
    v = _coerce(name, value, hint)
    _check_limits(name, v, k)
    return v


def make_config_for(spec: ModelSpec, values: dict[str, Any] | None = None) -> Any:
    """A typed, checked config for ``spec``; unknown keys and bad values raise ConfigError."""
    values = dict(values or {})
    if spec.upgrade is not None:
        values = spec.upgrade(values)
    values = {k: v for k, v in values.items() if k not in spec.legacy_keys}
    hints = typing.get_type_hints(spec.config_cls)
    fields = {f.name: f for f in dataclasses.fields(spec.config_cls)}
    unknown = sorted(str(k)[:40] for k in set(values) - set(fields))
    if unknown:
        raise ConfigError(f"unknown option(s) for {spec.name}: {', '.join(unknown[:5])}; "
                          f"valid: {', '.join(sorted(fields))}")
    clean = {k: _coerce(k, v, hints[k]) for k, v in values.items()}
    for k, v in clean.items():
        if "knob" in fields[k].metadata:
            _check_limits(k, v, fields[k].metadata["knob"])
    return spec.config_cls(**clean)


def check_model_size(spec: ModelSpec, config: Any, shape: tuple[int, int, int], n_classes: int,
                     max_params: int) -> int:
    """Count the model's parameters and buffers on the meta device (no memory); ConfigError over ``max_params``.

    Runs before the real build, so a config that asks for gigabytes is refused without
    allocating them. A config that cannot be built at all is a ConfigError too.
    """
    import torch  # the registry's config code needs no torch; only this check does

    try:
        with torch.device("meta"):
            model = spec.model_cls(config, tuple(shape), n_classes)
    except ConfigError:
        raise
    except (RuntimeError, ValueError, TypeError, ZeroDivisionError, OverflowError, IndexError) as e:
        detail = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        raise ConfigError(f"a {spec.title} cannot be built with this config for {'x'.join(map(str, shape))} "
                          f"images: {detail}") from None
    n = sum(t.numel() for t in model.parameters()) + sum(t.numel() for t in model.buffers())
    if n > max_params:
        raise ConfigError(f"this {spec.title} would have {n:,} parameters, more than the limit of "
                          f"{max_params:,} (LATENT_LAB_MAX_MODEL_PARAMS): choose a smaller model")
    return n
