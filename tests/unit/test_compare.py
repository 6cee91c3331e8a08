"""The hybrid-vs-CNN experiment: label subsets, the semi-supervised loss, fair budgets, stop, results, CLI.

The figures are tested in test_compare_figures.py (they live in ui.figures).
"""
from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from core import compare as C
from core.compare import experiment
from core.datasets import DatasetError, load_dataset
from core.device import seed_everything
from core.models import build_model

ROOT = Path(__file__).resolve().parents[2]
TINY = {"steps": 6, "eval_every": 3, "labeled_batch": 8, "unlabeled_batch": 16}


# --------------------------------------------------------------------------- labels and batches


def test_labeled_subset_per_class_seeded_and_from_the_train_split():
    ds = load_dataset("mnist5k")
    idx = C.labeled_subset(ds.y_train, 10, seed=0)
    assert idx.shape == (100,) and bool((idx[1:] > idx[:-1]).all())  # sorted, unique
    assert torch.bincount(ds.y_train[idx], minlength=10).tolist() == [10] * 10
    assert torch.equal(idx, C.labeled_subset(ds.y_train, 10, seed=0))
    assert not torch.equal(idx, C.labeled_subset(ds.y_train, 10, seed=1))
    # Indices into the train split only, so no labeled image is a test image.
    assert int(idx.max()) < len(ds.x_train)
    lab = ds.x_train[idx].flatten(1)
    test = ds.x_test.flatten(1)
    assert float(torch.cdist(lab, test).min()) > 0
    assert torch.equal(C.labeled_subset(ds.y_train, None, 0), torch.arange(len(ds.y_train)))
    with pytest.raises(ValueError, match="only 400 training images"):
        C.labeled_subset(ds.y_train, 401, 0)


def test_semi_supervised_targets_and_mixed_batches():
    y = torch.arange(40) % 4
    lab = C.labeled_subset(y, 2, seed=3)
    t = C.semi_supervised_targets(y, lab)
    assert int((t >= 0).sum()) == 8 and torch.equal(t[lab], y[lab]) and int((t == -1).sum()) == 32
    unl = (t < 0).nonzero().flatten()
    batches = C.mixed_batches(lab, unl, 4, 10)(0, torch.Generator().manual_seed(0))
    assert len(batches) == C.steps_per_epoch(40, 8, 4, 10) == 4
    for b in batches:
        assert int((t[b] >= 0).sum()) == 4  # labeled images oversampled into every batch
    seen_unl = torch.cat([b[4:] for b in batches])
    assert sorted(seen_unl.tolist()) == sorted(unl.tolist())  # an epoch = one pass over the unlabeled
    every = C.mixed_batches(torch.arange(40), torch.arange(0), 4, 10)(0, torch.Generator().manual_seed(0))
    assert [len(b) for b in every] == [14, 14, 12]


# --------------------------------------------------------------------------- the losses


def test_unlabeled_rows_give_no_cross_entropy(digits):
    x = digits.x_train[:16]
    none = torch.full((16,), -1)
    hyb = build_model("hybrid", {"entropy": 0.5, "recon_from": "code"}, digits.shape, 10).train()
    parts = hyb.loss(x, none)
    parts = {k: float(v.detach()) for k, v in parts.items()}
    assert parts["ce"] == 0.0 and parts["recon"] > 0 and parts["entropy"] > 0
    cnn = build_model("cnn", None, digits.shape, 10).train()
    assert float(cnn.loss(x, none)["loss"].detach()) == 0.0
    # The plain CNN drops unlabeled rows before the forward pass (so they cannot even move
    # its BatchNorm statistics): a mixed batch gives exactly the labeled-only loss.
    y = digits.y_train[:16].clone()
    y[8:] = -1
    torch.manual_seed(0)
    mixed = float(cnn.loss(x, y)["loss"].detach())
    torch.manual_seed(0)
    alone = float(cnn.loss(x[:8], y[:8])["loss"].detach())
    assert mixed == pytest.approx(alone, rel=1e-6)


def test_entropy_term_rewards_confident_predictions_spread_over_classes():
    from core.models.classifiers import prediction_entropies
    collapsed = torch.zeros(20, 10)
    collapsed[:, 3] = 30.0  # every image confidently in class 3
    spread = torch.zeros(20, 10)
    spread[torch.arange(20), torch.arange(20) % 10] = 30.0  # confident, all classes used
    unsure = torch.zeros(20, 10)
    h_c, m_c = prediction_entropies(collapsed)
    h_s, m_s = prediction_entropies(spread)
    h_u, m_u = prediction_entropies(unsure)
    assert float(h_c) == pytest.approx(0, abs=1e-6) and float(m_c) == pytest.approx(0, abs=1e-6)
    assert float(h_s) == pytest.approx(0, abs=1e-6) and float(m_s) == pytest.approx(np.log(10), rel=1e-4)
    assert float(h_u) == pytest.approx(np.log(10), rel=1e-4)
    # entropy - balance * marginal entropy: with balance 1 only "confident and spread" scores lowest;
    # without it, collapsing onto one class would score as well.
    assert float(h_s - m_s) < float(h_c - m_c) < float(h_u - m_u) + 1e-6


def test_hybrid_loss_weights_override_the_config_for_one_call_only(digits):
    x, y = digits.x_train[:32], digits.y_train[:32].clone()
    y[8:] = -1
    hyb = build_model("hybrid", {"entropy": 1.0, "balance": 1.0, "recon_from": "code"}, digits.shape, 10).train()
    off = build_model("hybrid", {"entropy": 0.0, "balance": 1.0, "recon_from": "code"}, digits.shape, 10).train()
    off.load_state_dict(hyb.state_dict())
    before = dict(vars(hyb.config))
    torch.manual_seed(0)
    a = {k: float(v.detach()) for k, v in hyb.loss(x, y, weights={"entropy": 0.0, "pseudo": 0.0}).items()}
    torch.manual_seed(0)
    b = {k: float(v.detach()) for k, v in off.loss(x, y).items()}
    assert a == b and "entropy" not in a  # same numbers and parts as a config with the terms off
    assert vars(hyb.config) == before  # the model's config is untouched
    torch.manual_seed(0)
    own = hyb.loss(x, y)
    torch.manual_seed(0)
    lam2 = hyb.loss(x, y, weights={"lam": hyb.config.lam + 1})
    assert float((lam2["loss"] - own["loss"]).detach()) == pytest.approx(float(own["recon"].detach()), rel=1e-5)
    with pytest.raises(ValueError, match="unknown loss weight"):
        hyb.loss(x, y, weights={"entropie": 0.0})


def test_augmentation_is_shared_and_only_in_training(digits):
    cfg = C.CompareConfig(shift=0.1, rotate=10)
    cnn_cfg, hyb_cfg = cfg.cnn_config(), cfg.hybrid_config()
    assert {k: hyb_cfg[k] for k in cnn_cfg} == cnn_cfg  # every shared setting identical
    model = build_model("cnn", cnn_cfg, digits.shape, 10)
    x = digits.x_train[:4]
    assert torch.equal(model.eval().augment(x), x)
    assert not torch.equal(model.train().augment(x), x)


# --------------------------------------------------------------------------- fairness


def _spy_train(monkeypatch):
    """Record, per engine call, the model, its TrainConfig and every batch of indices it trains on."""
    calls = []
    real = experiment.train

    def spy(model, data, cfg, on_event=None, stop=None, sampler=None, step_fn=None):
        rec = {"role": model.name, "cfg": cfg, "batches": [], "config": dict(vars(model.config))}
        calls.append(rec)

        def watched(epoch, gen):
            out = sampler(epoch, gen)
            rec["batches"].append([b.tolist() for b in out])
            return out
        return real(model, data, cfg, on_event, stop, watched, step_fn=step_fn)
    monkeypatch.setattr(experiment, "train", spy)
    return calls


def test_budgets_are_fair(digits, monkeypatch):
    calls = _spy_train(monkeypatch)
    r = C.run_comparison(digits, 3, [5], "joint", 1.0, save=False, **TINY)
    cnn, hyb = r.models["cnn"], r.models["hybrid"]
    assert cnn.steps == hyb.steps == [6] and cnn.labeled_seen == hyb.labeled_seen == [6 * 8]
    a, b = calls
    assert (a["role"], b["role"]) == ("cnn", "hybrid")
    assert a["cfg"] == b["cfg"]  # optimiser, lr and its schedule, batch size, seed, step budget
    assert a["cfg"].lr_schedule == "cosine"
    assert a["batches"] == b["batches"]  # the very same images in the same order
    # Same initial weights of the shared layers.
    seed_everything(5)
    m1 = build_model("cnn", r.config.cnn_config(), digits.shape, 10)
    seed_everything(5)
    m2 = build_model("hybrid", r.config.hybrid_config(), digits.shape, 10)
    for k, v in m1.state_dict().items():
        assert torch.equal(v, m2.state_dict()[k]), k

    calls.clear()
    r = C.run_comparison(digits, 3, [5], "pretrain", 1.0, save=False, pretrain_fraction=0.5, **TINY)
    assert r.models["cnn"].steps == r.models["hybrid"].steps == [6]
    assert [c["cfg"].max_steps for c in calls] == [6, 3, 3]  # CNN; hybrid pre-training + fine-tuning
    assert r.models["hybrid"].labeled_seen == [3 * 8]  # labels hidden while pre-training
    # The unlabeled terms are off while pre-training through the step's loss weights,
    # not by changing the model: its config is the same in both phases.
    assert calls[1]["config"] == calls[2]["config"] and calls[1]["config"]["entropy"] == 1.0
    hist = r.models["hybrid"].losses[0]
    assert len(hist["entropy"]) == 3 and len(hist["loss"]) == 6  # entropy logged only when fine-tuning


# --------------------------------------------------------------------------- runs, stop, results


def test_stop_keeps_only_complete_seed_pairs(digits):
    stop = threading.Event()

    def on_progress(p):
        if p.seed_index == 1 and p.role == "hybrid" and p.kind == "step" and p.step >= 2:
            stop.set()
    r = C.run_comparison(digits, 2, [0, 1], save=False, on_progress=on_progress, stop=stop, **TINY)
    assert r.status == "stopped" and "1 of 2" in r.message
    assert r.seeds_done == [0] and len(r.models["cnn"].accuracy) == len(r.models["hybrid"].accuracy) == 1

    stop = threading.Event()
    stop.set()
    r = C.run_comparison(digits, 2, 1, save=False, stop=stop, **TINY)
    assert r.status == "stopped" and r.seeds_done == [] and r.summary()["hybrid"]["accuracy"] == []


def test_result_shapes_saved_runs_and_reload(digits, tmp_path):
    events = []
    r = C.run_comparison(digits, 2, [0, 1], root=tmp_path, on_progress=events.append, **TINY)
    n = len(digits.x_test)
    assert r.status == "finished" and r.seeds_done == [0, 1] and len(r.y_true) == n
    for m in r.models.values():
        assert len(m.accuracy) == len(m.seconds) == len(m.predictions) == 2
        assert all(0 <= a <= 1 for a in m.accuracy) and all(s > 0 for s in m.seconds)
        assert m.std >= 0 and min(m.accuracy) <= m.mean <= max(m.accuracy)
        cm = np.array(m.confusion[0])
        assert cm.shape == (10, 10) and cm.sum() == n
        assert np.trace(cm) / n == pytest.approx(m.accuracy[0])
        assert m.curves[0]["step"] == [3, 6] and m.curves[0]["accuracy"][-1] == m.accuracy[0]
        assert all(Path(p).is_dir() for p in m.run_paths)
    d = r.disagreements(0)
    y, cnn, hyb = (np.array(v) for v in (r.y_true, r.models["cnn"].predictions[0], r.models["hybrid"].predictions[0]))
    assert all(hyb[i] == y[i] != cnn[i] for i in d["hybrid_right_cnn_wrong"])
    assert all(cnn[i] == y[i] != hyb[i] for i in d["cnn_right_hybrid_wrong"])
    assert events[0].kind == "start" and events[-1].kind == "end" and events[-1].fraction == 1.0
    assert all(a.fraction <= b.fraction + 1e-9 for a, b in itertools.pairwise(events))

    listed = C.list_comparisons(tmp_path)
    assert [c["id"] for c in listed] == [r.id] and listed[0]["seeds"] == [0, 1]
    back = C.load_comparison(r.id, tmp_path)
    assert back.summary()["hybrid"]["accuracy"] == r.summary()["hybrid"]["accuracy"]
    assert back.models["cnn"].predictions == r.models["cnn"].predictions and back.labeled == r.labeled
    with pytest.raises(ValueError, match="no saved comparison"):
        C.load_comparison("cmp-nope", tmp_path)


def test_sweep_runs_each_level(digits):
    s = C.run_sweep(digits, [1, None, 10_000], [0], save=False, **TINY)
    assert s.levels == [1, None]  # a level no class can fill is skipped
    assert [row["labels_per_class"] for row in s.rows()] == [1, "all"]
    assert all(0 <= row["hybrid"]["mean"] <= 1 for row in s.rows())


def test_eval_dataset_checks_shape_and_classes(digits, tmp_path):
    good = tmp_path / "eval.npz"
    np.savez(good, x=digits.x_test[:50].numpy(), y=digits.y_test[:50].numpy())
    with pytest.raises(DatasetError, match="must match"):
        bad = tmp_path / "big.npz"
        np.savez(bad, x=np.zeros((20, 1, 12, 12), np.float32), y=np.arange(20) % 10)
        C.run_comparison(digits, 2, 1, save=False, eval_dataset=f"npz:{bad}", **TINY)
    with pytest.raises(DatasetError, match="classes"):
        three = tmp_path / "three.npz"
        np.savez(three, x=digits.x_test[:30].numpy(), y=np.arange(30) % 3)
        C.run_comparison(digits, 2, 1, save=False, eval_dataset=f"npz:{three}", **TINY)
    r = C.run_comparison(digits, 2, 1, save=False, eval_dataset=f"npz:{good}", steps=2, eval_every=0)
    assert len(r.y_true) == 50 and r.eval_spec.startswith("npz:")


def test_bad_settings_raise_clear_errors(digits):
    with pytest.raises(ValueError, match="variant"):
        C.run_comparison(digits, 2, 1, variant="magic", save=False)
    with pytest.raises(ValueError, match="step budget"):
        C.run_comparison(digits, 2, 1, steps=0, save=False)
    with pytest.raises(ValueError, match="lam"):
        C.run_comparison(digits, 2, 1, lam=-1, save=False)
    with pytest.raises(ValueError, match="unknown comparison option"):
        C.run_comparison(digits, 2, 1, widht=3, save=False)


# --------------------------------------------------------------------------- CLI


def _cli(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "LATENT_LAB_HOME": str(home), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "core", "compare", *args], cwd=ROOT, env=env, check=False,
                          capture_output=True, text=True, timeout=240)


def test_cli_end_to_end_on_digits(tmp_path):
    p = _cli("--dataset", "digits", "--labels-per-class", "3", "--seeds", "2", "--budget-steps", "4",
             home=tmp_path)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 1
    out = json.loads(lines[0])
    assert out["labels_per_class"] == 3 and out["seeds"] == [0, 1] and out["steps"] == 4
    for role in ("cnn", "hybrid"):
        assert len(out[role]["accuracy"]) == 2 and len(out[role]["seconds"]) == 2
        assert {"mean", "std"} <= set(out[role])
    assert "compare" in p.stderr or "seed" in p.stderr  # the progress bar
    assert C.list_comparisons(tmp_path)[0]["id"] == out["comparison"]

    bad = _cli("--dataset", "digits", "--eval-dataset", "npz:/no/such/file.npz", home=tmp_path)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.strip().startswith("error:") and len(bad.stderr.strip().splitlines()) == 1


def test_a_comparison_saved_before_a_default_changed_reads_as_it_ran():
    """Pseudo-labels and the ramp are on by default now; a saved config without them ran without them."""
    from core.compare.config import CompareConfig
    old = {k: v for k, v in CompareConfig().to_dict().items() if k not in ("pseudo", "ramp", "steps")}
    back = CompareConfig.from_dict(old)
    assert (back.pseudo, back.ramp, back.steps) == (0.0, 0.0, 1000)
    now = CompareConfig(pseudo=0.5, ramp=0.1, steps=300)
    assert CompareConfig.from_dict(now.to_dict()) == now
