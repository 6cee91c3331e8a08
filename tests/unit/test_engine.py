"""The training loop: events, stop, NaN recovery, seeding, max_steps, lr schedule, step_fn."""
from __future__ import annotations

import math
import threading

import pytest
import torch

from core.device import pick_device
from core.engine import Event, TrainConfig, train
from core.models import build_model


def _cae(ds, seed=0):
    torch.manual_seed(seed)
    return build_model("cae", {"latent_dim": 4, "widths": [8, 16]}, ds.shape)


def test_events_cover_start_steps_previews_epochs_end(digits):
    events: list[Event] = []
    res = train(_cae(digits), digits, TrainConfig(epochs=2, batch_size=256, preview_every=3),
                on_event=events.append)
    kinds = [e.kind for e in events]
    assert kinds[0] == "start" and kinds[-1] == "end"
    steps = [e for e in events if e.kind == "step"]
    per_epoch = -(-digits.x_train.shape[0] // 256)
    assert len(steps) == res.steps == 2 * per_epoch
    assert kinds.count("epoch") == 2
    previews = [e for e in events if e.kind == "preview"]
    assert previews and previews[0].preview.shape == (32, 1, 8, 8)
    assert events[-1].preview is not None
    assert steps[-1].progress == 1.0 and steps[-1].images_per_sec > 0
    assert "loss" in steps[0].losses and steps[3].eta is not None
    assert res.history["step"][-1] == res.steps and len(res.history["loss"]) == len(res.history["step"])


def test_stop_between_steps_leaves_a_usable_model(digits):
    stop = threading.Event()

    def on_event(e: Event) -> None:
        if e.kind == "step" and e.step == 5:
            stop.set()

    model = _cae(digits)
    res = train(model, digits, TrainConfig(epochs=50, batch_size=64), on_event=on_event, stop=stop)
    assert res.status == "stopped" and res.steps == 5 and "stopped" in res.reason
    out = model.reconstruct(digits.x_test[:4])
    assert torch.isfinite(out).all()


def test_nan_loss_stops_and_restores_last_good_weights(digits):
    model = _cae(digits)
    calls = {"n": 0}
    real = model.train_step

    def poisoned(x, y, opts):
        calls["n"] += 1
        if calls["n"] == 8:
            with torch.no_grad():
                for p in model.parameters():
                    p.fill_(float("nan"))
            return {"loss": float("nan")}
        return real(x, y, opts)

    model.train_step = poisoned
    res = train(model, digits, TrainConfig(epochs=5, batch_size=64, snapshot_every=5))
    assert res.status == "diverged" and "diverged" in res.reason and "learning rate" in res.reason
    assert res.steps == 7
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_seeded_runs_repeat_exactly(digits):
    a, b = _cae(digits, 3), _cae(digits, 3)
    ra = train(a, digits, TrainConfig(epochs=1, batch_size=128, seed=7, preview_every=0))
    rb = train(b, digits, TrainConfig(epochs=1, batch_size=128, seed=7, preview_every=0))
    assert ra.history["loss"] == rb.history["loss"]
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    c = _cae(digits, 3)
    rc = train(c, digits, TrainConfig(epochs=1, batch_size=128, seed=8, preview_every=0))
    assert rc.history["loss"] != ra.history["loss"]


def test_max_steps_and_validation(digits):
    res = train(_cae(digits), digits, TrainConfig(epochs=100, batch_size=32, max_steps=7))
    assert res.status == "finished" and res.steps == 7
    with pytest.raises(ValueError, match="learning rate"):
        TrainConfig(lr=-1).validate()
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(epochs=0).validate()
    with pytest.raises(ValueError, match="lr_schedule"):
        TrainConfig(lr_schedule="linear").validate()
    with pytest.raises(ValueError, match="no training images"):
        train(_cae(digits), (digits.x_train[:0], None), TrainConfig())


def _lr_spy(lrs):
    """A step_fn that records the lr of every optimiser's groups, then takes the model's own step."""
    def step(model, x, y, opts):
        lrs.append([g["lr"] for o in opts for g in o.param_groups])
        return model.train_step(x, y, opts)
    return step


def test_cosine_lr_schedule_decays_every_optimiser_over_the_call(digits):
    n = 9
    lrs: list[list[float]] = []
    res = train(_cae(digits), digits, TrainConfig(epochs=100, batch_size=64, lr=0.01, max_steps=n,
                                                  lr_schedule="cosine", preview_every=0), step_fn=_lr_spy(lrs))
    assert res.steps == n
    # The lr of step t+1 is base * 0.5 * (1 + cos(pi * t / n)), t = steps done before it.
    assert [lr for (lr,) in lrs] == [0.01 * 0.5 * (1 + math.cos(math.pi * t / n)) for t in range(n)]
    assert lrs[0] == [0.01] and lrs[-1][0] < 0.001
    # A GAN has two optimisers with their own base lrs: both follow the schedule.
    torch.manual_seed(0)
    gan = build_model("gan", None, digits.shape)
    bases = [g["lr"] for o in gan.configure_optimizers(0.01) for g in o.param_groups]
    lrs.clear()
    train(gan, (digits.x_train[:256], None),
          TrainConfig(epochs=1, batch_size=64, lr=0.01, lr_schedule="cosine", preview_every=0),
          step_fn=_lr_spy(lrs))
    assert len(lrs) == 4 and lrs[0] == bases
    assert lrs[2] == pytest.approx([b * 0.5 for b in bases])  # halfway: half the base lr
    # The default keeps the lr constant.
    lrs.clear()
    train(_cae(digits), digits, TrainConfig(epochs=1, batch_size=256, lr=0.01, preview_every=0),
          step_fn=_lr_spy(lrs))
    assert all(row == [0.01] for row in lrs)


def test_step_fn_replaces_the_models_step_without_touching_the_model(digits):
    seen = []

    def step(model, x, y, opts):
        seen.append((x.shape[0], y))
        out = model.train_step(x, y, opts)
        return {**out, "extra": 1.0}

    a, b = _cae(digits, 3), _cae(digits, 3)
    cfg = TrainConfig(epochs=1, batch_size=128, seed=7, preview_every=0)
    ra = train(a, digits, cfg, step_fn=step)
    rb = train(b, digits, cfg)
    assert len(seen) == ra.steps and all(n <= 128 for n, _ in seen)
    assert ra.history["extra"] == [1.0] * ra.steps  # what the step_fn returns is what gets logged
    assert ra.history["loss"] == rb.history["loss"]  # wrapping the model's own step changes nothing
    assert "train_step" not in vars(a)  # the instance is never patched
    # Its losses still go through the NaN guard.
    c = _cae(digits)
    res = train(c, digits, TrainConfig(epochs=5, batch_size=64),
                step_fn=lambda m, x, y, o: {"loss": float("nan")})
    assert res.status == "diverged" and res.steps == 0
    assert all(torch.isfinite(p).all() for p in c.parameters())


def test_device_falls_back_to_cpu():
    assert pick_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        assert pick_device("cuda").type == "cpu"
