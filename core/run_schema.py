"""What a run.json may hold: every field's type and range (a JSON Schema within core.limits), then the
registry's model name and knob limits. Runs are shared by upload, so a run file is checked here before
anything about it is trusted (core.store reads and lists runs through it; core.run_share imports them).
"""
from __future__ import annotations

import functools
from typing import Any

import jsonschema

from .datasets.sequences import MAX_STEPS as SEQ_MAX_STEPS
from .limits import LimitError, Limits, limits
from .models import ConfigError, get_spec, make_config_for

FORMAT = 1  # the run.json format this version writes; a newer one is refused
META = "run.json"


class RunError(ValueError):
    """A run that is missing, malformed, tampered with or does not fit its model."""


def _limits() -> Limits:
    """core.limits.limits(), with a badly set variable reported as a RunError."""
    try:
        return limits()
    except LimitError as e:
        raise RunError(str(e)) from None


_NUMBER = {"type": ["number", "null"]}
_SCALAR = {"type": ["number", "string", "boolean", "null"], "maxLength": 4000}
_SHORT = {"type": "string", "maxLength": 200}


@functools.lru_cache(maxsize=4)
def _validator(lim: Limits) -> jsonschema.protocols.Validator:
    """The run.json schema for these limits: every field's type and range."""
    # Images are CxHxW within the image limits; a sequence run is 1 x T steps x F features (core.datasets.sequences).
    side = {"type": "integer", "minimum": 1, "maximum": max(lim.image_side, SEQ_MAX_STEPS)}
    flat_object = {"type": "object", "maxProperties": 64, "additionalProperties": _SCALAR}
    schema = {
        "type": "object",
        "required": ["model", "config", "shape", "n_classes", "dataset"],
        "properties": {
            "format": {"type": "integer", "minimum": 1, "maximum": 1000},
            "model": {"type": "string", "minLength": 1, "maxLength": 64},
            "family": _SHORT,
            "config": {"type": "object", "maxProperties": 64, "additionalProperties": {"anyOf": [
                _SCALAR, {"type": "array", "maxItems": 64, "items": {"type": "number"}}]}},
            "shape": {"type": "array", "minItems": 3, "maxItems": 3,
                      "prefixItems": [{"type": "integer", "enum": [1, 3]}, side, side]},  # sizes: model limits
            "n_classes": {"type": "integer", "minimum": 0, "maximum": lim.classes},
            "dataset": {"type": "string", "maxLength": 1000},
            "train": flat_object,
            "status": _SHORT,
            "reason": {"type": "string", "maxLength": 4000},
            # Items are checked by _check_history: the same rule, a hundred times faster than the
            # validator walking thousands of numbers on every Runs page load.
            "history": {"type": "object", "maxProperties": 64,
                        "additionalProperties": {"type": "array", "maxItems": 100_000}},
            "timings": {"type": "object", "maxProperties": 64, "additionalProperties": _NUMBER},
            "result": {"type": "object"},
            # The pages format every metric as a number: a string there is refused, not drawn.
            "metrics": {"type": "object", "maxProperties": 64,
                        "additionalProperties": {"type": ["number", "boolean", "null"]},
                        "properties": {"accuracy": {"type": "number"}, "recon_bce": {"type": "number"},
                                       "recon_mse": {"type": "number"}, "approximate": {"type": "boolean"},
                                       "n": {"type": "integer", "minimum": 0}},
                        "dependentRequired": {"recon_bce": ["recon_mse"]}},
            "created": _SHORT,
            "started_at": _NUMBER,  # when a job of the server left the queue (epoch seconds)
            "versions": {"type": "object", "maxProperties": 64, "additionalProperties": _SHORT},
            "id": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z"},
            "title": _SHORT,
            "imported": {"type": "boolean"},
            # Said by this server about its own runs (an import drops them and makes its own: core.run_share).
            "owner": _SHORT,
            "tag": _SHORT,
            "preset": _SHORT,
            "repeat_of": _SHORT,
            "content_id": {"type": "string", "pattern": r"^[0-9a-f]{64}\Z"},
            "comparison": {"type": "object", "properties": {
                "id": _SHORT, "role": _SHORT, "seed": {"type": ["integer", "null"]},
                "seed_index": {"type": "integer", "minimum": 0, "maximum": 10_000},
                "accuracy": {"type": "number"}, "config": {"type": "object"}}},
        },
    }
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return cls(schema)


def validate_meta(meta: Any) -> None:
    """RunError unless ``meta`` is a run.json this version can load: the schema, then the registry's model name."""
    if not isinstance(meta, dict):
        raise RunError(f"{META} is damaged (expected a JSON object)")
    for key in ("error", "path"):  # what list_runs adds: a run.json must not fake a damaged run or a location
        if key in meta:
            raise RunError(f"{META} field {key!r} is invalid (a reserved name); the run file is damaged or not a "
                           "Latent Lab run")
    if isinstance(meta.get("format"), int) and not isinstance(meta["format"], bool) and meta["format"] > FORMAT:
        raise RunError("this run was saved by a newer Latent Lab; update to load it")
    error = jsonschema.exceptions.best_match(_validator(_limits()).iter_errors(meta))
    if error is not None:
        where = ".".join(str(p) for p in error.absolute_path) or "the top level"
        detail = " ".join(error.message.split())  # one line, whatever the value held
        if len(detail) > 160:
            detail = detail[:157] + "..."
        raise RunError(f"{META} field {where!r} is invalid ({detail}); the run file is damaged "
                       "or not a Latent Lab run")
    for key, values in (meta.get("history") or {}).items():
        if not all(v is None or type(v) in (int, float) for v in values):
            bad = next(v for v in values if not (v is None or type(v) in (int, float)))
            raise RunError(f"{META} field 'history.{str(key)[:40]}' is invalid (it holds {str(bad)[:40]!r}, not a "
                           "number); the run file is damaged or not a Latent Lab run")
    # JSON Schema counts 3.0 as an integer; the model is built from real ints.
    for key in ("shape", "n_classes"):
        value = meta[key]
        if any(isinstance(v, float) for v in (value if isinstance(value, list) else [value])):
            raise RunError(f"{META} field {key!r} must hold whole numbers, got {value!r}")
    try:
        spec = get_spec(meta["model"])
    except ConfigError as e:
        raise RunError(f"{META} names {e}") from None
    try:
        make_config_for(spec, meta["config"])  # the knobs' limits (sizes, encoder steps): cheap, no model built
    except ConfigError as e:
        raise RunError(f"run.json describes a model that cannot be built: {e}") from None
