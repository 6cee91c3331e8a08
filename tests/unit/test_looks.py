"""Projector-friendly looks: loss terms in one unit, preset times measured on this server."""
from __future__ import annotations

import pytest

from core.presets import measured_seconds
from ui.loss_units import same_units


def test_vae_terms_become_nats_per_image_and_others_stay():
    curve = {"step": [1, 2], "loss": [0.2, 0.1], "recon": [0.19, 0.09], "kl": [7.8, 7.0]}
    out, unit = same_units(curve, 784)
    assert unit.startswith("nats per image")
    assert out["recon"] == pytest.approx([0.19 * 784, 0.09 * 784]) and out["kl"] == [7.8, 7.0]
    assert out["step"] == [1, 2] and out["loss"][0] == pytest.approx(0.2 * 784)
    cae = {"step": [1], "loss": [0.3]}
    assert same_units(cae, 784) == (cae, "loss")


def test_preset_times_are_the_median_of_the_last_runs_here():
    runs = [{"preset": "cae-mnist", "status": "finished", "timings": {"train_seconds": s}} for s in (30, 20, 22, 90)]
    runs.insert(1, {"preset": "cae-mnist", "status": "stopped", "timings": {"train_seconds": 3}})
    runs.append({"preset": "vae-2d", "status": "finished", "timings": {"train_seconds": 50}})
    assert measured_seconds("cae-mnist", runs) == (22.0, 3)  # the last 3 finished: 30, 20, 22
    assert measured_seconds("gan-mnist", runs) is None


def test_every_default_and_preset_is_one_the_train_form_can_show():
    """The form's learning rate is a slider of fixed steps: a default between them would show (and train) the
    nearest step instead of itself."""
    from core.engine import FORM_LEARNING_RATES
    from core.models import MODELS
    from core.pipeline import default_train_config
    from core.presets import PRESETS

    for name in MODELS:
        assert default_train_config(name).lr in FORM_LEARNING_RATES, name
    for p in PRESETS:
        assert p.train_config().lr in FORM_LEARNING_RATES, p.key


def test_the_benches_preset_variants_train_what_home_trains():
    """bench/ scores the Home presets' quality as cae-preset and gan-preset: the same family and settings."""
    import importlib.util
    from pathlib import Path

    from core.presets import PRESETS_BY_KEY
    spec = importlib.util.spec_from_file_location("bench_common", Path(__file__).parents[2] / "bench" / "common.py")
    common = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(common)
    for variant, key in (("cae-preset", "cae-mnist"), ("gan-preset", "gan-mnist")):
        preset = PRESETS_BY_KEY[key]
        family, config, train = common.VARIANTS[variant]
        assert (family, config or {}, train) == (preset.model, preset.model_config, preset.train)
