"""Anomaly detection: normal/suspect splits, scores, ROC maths against scikit-learn, runs, benchmark, CLI, job."""
from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from core import anomaly as A
from core.cli import main
from core.datasets import DatasetError, dataset_from_arrays, load_dataset
from core.jobs import AnomalyJob, JobSlots
from core.models import ConfigError, build_model

SMALL = {"latent_dim": 8, "widths": [8, 16]}  # a CAE that trains on digits in a second


def _cfg(**kw):
    return A.AnomalyConfig(**{"dataset": "digits", "normal": (0,), "model_config": SMALL, "epochs": 3, **kw})


@pytest.fixture(scope="module")
def zeros_run():
    """Digit 0 as the normal class on digits: an easy, fast detector shared by several tests."""
    return A.run_anomaly(_cfg(epochs=8))


# --------------------------------------------------------------------------- data


def test_parse_normal_by_index_name_and_list(digits):
    assert A.parse_normal(digits, "3") == (3,)
    assert A.parse_normal(digits, " 5, 3 ,5") == (3, 5)
    assert A.parse_normal(digits, [7]) == (7,)
    for bad in ("12", "-1", "cat", ""):
        with pytest.raises(DatasetError, match="is not a class of Digits"):
            A.parse_normal(digits, bad)


def test_unlabeled_data_has_no_normal_classes():
    ds = dataset_from_arrays(np.random.rand(40, 1, 8, 8).astype(np.float32), None, spec="u", title="blank")
    with pytest.raises(DatasetError, match="no labels"):
        A.parse_normal(ds, "0")
    with pytest.raises(DatasetError, match="second dataset of suspects"):
        A.eval_set(ds, None)
    assert len(A.normal_train(ds, None)) == len(ds.x_train)


def test_eval_set_is_the_test_split_with_other_classes_anomalous(digits):
    ev = A.eval_set(digits, (3, 5))
    y = digits.y_test.numpy()
    assert len(ev.x) == len(y) and ev.spec == "digits (test split)"
    assert (ev.is_anomaly == ~np.isin(y, [3, 5])).all() and (ev.labels == y).all()
    train = A.normal_train(digits, (3, 5))
    assert len(train) == int(torch.isin(digits.y_train, torch.tensor([3, 5])).sum())


def test_suspects_are_anomalous_and_mixed_with_the_normal_test_images(digits):
    sus = dataset_from_arrays(np.random.rand(30, 1, 8, 8).astype(np.float32), None, spec="noise", title="noise")
    ev = A.eval_set(digits, (0,), sus)
    n0 = int((digits.y_test == 0).sum())
    assert len(ev.x) == n0 + 30 and ev.is_anomaly.sum() == 30 and not ev.is_anomaly[:n0].any()
    assert (ev.labels[:n0] == 0).all() and (ev.labels[n0:] == A.SUSPECT).all()
    # An unlabeled normal set: all its test images are normal.
    u = dataset_from_arrays(digits.x_train[:50].numpy(), None, spec="u", title="u")
    ev = A.eval_set(u, None, sus)
    assert (~ev.is_anomaly).sum() == len(u.x_test) and (ev.labels[: len(u.x_test)] == A.NORMAL_UNLABELED).all()


def test_eval_dataset_of_another_shape_is_refused_in_one_line(digits):
    with pytest.raises(DatasetError) as e:
        A.eval_set(digits, (0,), "mnist5k")
    assert "1x8x8" in str(e.value) and "\n" not in str(e.value)


def test_too_few_normal_images_is_a_clear_error():
    ds = dataset_from_arrays(np.random.rand(60, 1, 8, 8).astype(np.float32), np.r_[np.zeros(59), 1].astype(np.int64),
                             spec="lop", title="lopsided", seed=0)
    with pytest.raises(DatasetError, match="at least 2"):
        A.normal_train(ds, (1,))


# --------------------------------------------------------------------------- scores and metrics


class _Shift(nn.Module):
    """A 'model' whose reconstruction is its input moved one pixel right."""

    name = "shift"

    def __init__(self):
        super().__init__()
        self.p = nn.Parameter(torch.zeros(1))

    def reconstruct(self, x):
        return torch.roll(x, 1, dims=3)


def test_smooth_score_forgives_a_one_pixel_shift_more_than_mse():
    x = load_dataset("mnist5k").x_test[:50]
    s = A.score_images(_Shift(), x, ["smooth", "mse", "relative"])
    assert s["smooth"].shape == s["mse"].shape == (50,)
    assert (s["smooth"] < 0.5 * s["mse"]).all()  # the blur makes neighbouring pixels agree
    assert A.blur_sigma(28) == 1.0 and A.blur_sigma(8) == 0.5
    # relative = smooth per unit of ink of image + reconstruction (a shift keeps the ink: twice the image's).
    ink = 2 * x.flatten(1).mean(1).double().numpy()
    assert np.allclose(s["relative"], s["smooth"] / ink, rtol=1e-4)


def test_recon_scores_work_for_any_reconstruction(digits):
    x = digits.x_test[:10]
    same = A.recon_scores(x, x)
    assert list(same) == list(A.RECON_SCORES) and all(v.shape == (10,) for v in same.values())
    assert max(float(same[k].max()) for k in ("relative", "smooth", "mse")) < 1e-9
    blank = A.recon_scores(x, torch.zeros_like(x), ["mse", "relative"])
    assert (blank["mse"] > 0).all() and list(blank) == ["mse", "relative"]


def test_scores_per_family(digits):
    cae = build_model("cae", SMALL, digits.shape)
    vae = build_model("vae", {"latent_dim": 4}, digits.shape)
    assert A.available_scores(cae) == ["relative", "smooth", "mse", "bce", "latent"]
    assert A.available_scores(vae)[-1] == "neg_elbo"
    s = A.score_images(vae, digits.x_test[:20])
    assert set(s) == set(A.available_scores(vae)) and all(np.isfinite(v).all() and v.shape == (20,) for v in s.values())
    assert (s["neg_elbo"] > 0).all()  # nats per image: a positive bound
    again = A.score_images(vae, digits.x_test[:20])  # seeded: the same Monte-Carlo draws
    assert np.array_equal(again["neg_elbo"], s["neg_elbo"])
    with pytest.raises(ConfigError, match="neg_elbo"):
        A.score_images(cae, digits.x_test[:4], ["neg_elbo"])


def test_roc_and_threshold_counts_match_scikit_learn():
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(80, bool), np.ones(20, bool)]
    s = np.r_[rng.normal(0, 1, 80), rng.normal(2, 1, 20)]
    assert A.roc_auc(y, s) == pytest.approx(roc_auc_score(y, s))
    fpr, tpr, _ = A.roc(y, s)
    assert fpr[0] == 0 and tpr[-1] == 1 and (np.diff(fpr) >= 0).all()
    m = A.at_threshold(y, s, 1.0)
    assert m["tp"] == int((s[y] >= 1).sum()) and m["fp"] == int((s[~y] >= 1).sum())
    assert m["tp"] + m["fp"] + m["tn"] + m["fn"] == 100
    assert m["precision"] == pytest.approx(m["tp"] / (m["tp"] + m["fp"]))
    assert m["recall"] == pytest.approx(m["tp"] / 20)
    none = A.at_threshold(y, s, 99.0)
    assert none["flagged"] == 0 and none["precision"] == 0.0 and none["recall"] == 0.0
    with pytest.raises(DatasetError, match="both normal and anomalous"):
        A.roc_auc(np.ones(5, bool), np.arange(5.0))


# --------------------------------------------------------------------------- one detector, the benchmark


def test_families_are_drawn_from_the_registry():
    fams = A.anomaly_families()
    assert {"ae", "cae", "vae"} <= set(fams) and not {"gan", "cnn", "hybrid"} & set(fams)
    with pytest.raises(ConfigError, match="cannot score anomalies"):
        _cfg(model="gan").validate()
    with pytest.raises(ConfigError, match="unknown score"):
        _cfg(score="nope").validate()


def test_a_family_added_to_the_registry_detects_anomalies_too():
    from core.models import ModelSpec, register, unregister
    from tests.app.test_new_family import TinyAE, TinyConfig
    register(ModelSpec("tiny", "Tiny test autoencoder", TinyAE, TinyConfig, "test only", "",
                       train_defaults={"epochs": 2, "batch_size": 64, "lr": 5e-3}))
    try:
        assert "tiny" in A.anomaly_families()
        r = A.run_anomaly(_cfg(model="tiny", model_config={}, epochs=3), keep_model=False)
        assert set(r.aucs) == {"relative", "smooth", "mse", "bce", "latent"} and 0 <= r.roc_auc <= 1
    finally:
        unregister("tiny")


def test_a_detector_for_zeros_separates_them(zeros_run, digits):
    r = zeros_run
    assert r.status == "finished" and r.n_train == int((digits.y_train == 0).sum())
    assert set(r.aucs) == {"relative", "smooth", "mse", "bce", "latent"} and r.roc_auc == r.aucs["relative"]
    assert r.roc_auc > 0.9, r.aucs
    out = json.loads(json.dumps(r.summary()))
    assert out["normal"] == [0] and out["n"] == len(digits.x_test) and out["roc_auc"] == round(r.roc_auc, 4)
    most, least = r.examples["relative"]["most"], r.examples["relative"]["least"]
    assert len(most["index"]) == A.EXAMPLES and most["images"].shape == most["recons"].shape == (A.EXAMPLES, 1, 8, 8)
    assert most["score"][0] == r.scores["relative"].max() and least["score"][0] == r.scores["relative"].min()
    assert most["score"] == sorted(most["score"], reverse=True)
    assert r.scores["smooth"][r.is_anomaly].mean() > r.scores["smooth"][~r.is_anomaly].mean()
    assert min(r.scores["smooth"]) <= r.default_threshold("smooth") <= max(r.scores["smooth"]) * 1.5


def test_sequence_data_is_scored_and_drawn_as_sequences():
    r = A.run_anomaly(A.AnomalyConfig("waves", (0,), "cae", {"latent_dim": 8, "widths": [8, 16]}, epochs=2),
                      keep_model=False)
    assert r.kind == "sequence" and r.examples["relative"]["most"]["images"].shape[1:] == (1, 64, 1)
    assert all(np.isfinite(v).all() for v in r.scores.values()) and 0 <= r.roc_auc <= 1


def test_same_seed_same_scores(digits):
    a, b = (A.run_anomaly(_cfg(epochs=1, normal=(4,)), keep_model=False) for _ in range(2))
    assert np.array_equal(a.scores["mse"], b.scores["mse"]) and a.model is None


def test_benchmark_gives_every_class_and_the_mean():
    seen = []
    b = A.run_benchmark(_cfg(epochs=8), on_progress=lambda p: seen.append((p.task, p.stage)))
    out = json.loads(json.dumps(b.summary()))
    assert list(out["per_class"]) == [str(c) for c in range(10)] and out["status"] == "finished"
    assert out["mean_roc_auc"] == pytest.approx(np.mean(list(b.per_class.values())), abs=1e-4)
    assert all(0 <= v <= 1 for v in out["per_class"].values()) and out["mean_roc_auc"] > 0.75
    assert {t for t, _ in seen} == set(range(10)) and (9, "done") in seen
    assert b.rows()[0]["deep_svdd"] is None  # Deep SVDD's numbers are for MNIST, not 8x8 digits
    assert all(set(r.examples) == {"relative"} and r.model is None for r in b.results)


def test_benchmark_stopped_before_it_starts_reports_nothing_as_valid_json():
    stop = threading.Event()
    stop.set()
    b = A.run_benchmark(_cfg(), stop=stop)
    assert b.status == "stopped" and b.results == []
    assert json.loads(json.dumps(b.summary()))["mean_roc_auc"] is None


# --------------------------------------------------------------------------- the command line and the job


def test_cli_one_detector_and_the_benchmark(capsys):
    assert main(["anomaly", "--dataset", "digits", "--normal", "1", "--epochs", "2", "--set", "widths=[8,16]"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["normal"] == [1] and out["n"] == 359 and 0 <= out["roc_auc"] <= 1 and "smooth" in out["scores"]
    assert out["score"] == "relative" and out["roc_auc"] == out["scores"]["relative"]
    assert main(["anomaly", "--dataset", "digits", "--normal", "all", "--epochs", "1", "--model", "ae"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert len(out["per_class"]) == 10 and 0 <= out["mean_roc_auc"] <= 1


def test_cli_unlabeled_normal_set_with_suspects(tmp_path, capsys, digits):
    path = tmp_path / "zeros.npz"
    np.savez(path, x=digits.x_train[digits.y_train == 0].numpy())  # images only: all normal
    assert main(["anomaly", "--dataset", f"npz:{path}", "--eval-dataset", "digits", "--epochs", "3"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    n_sus = len(digits.x_train) + len(digits.x_test)
    assert out["normal"] is None and out["n_anomalous"] == n_sus and out["n"] > n_sus
    assert out["roc_auc"] > 0.5  # ones to nines (and other zeros) against zeros


@pytest.mark.parametrize("args, message", [
    (["--normal", "12"], "'12' is not a class of Digits"),
    ([], "give --normal"),
    (["--normal", "3", "--eval-dataset", "mnist5k"], "1x8x8"),
    (["--normal", "all", "--eval-dataset", "mnist5k"], "leave out --eval-dataset"),
    (["--normal", "3", "--score", "neg_elbo"], "needs a VAE"),
    (["--normal", "3", "--epochs", "0"], "epochs must be between"),
    (["--normal", ",".join(map(str, range(10)))], "leave at least one class out"),
    (["--normal", "3", "--set", "latent_dim=-4"], "latent_dim"),
    (["--normal", "3", "--eval-dataset", "npz:/no/such.npz"], "such.npz"),
])
def test_cli_bad_input_is_one_line(capsys, args, message):
    assert main(["anomaly", "--dataset", "digits", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err and "Traceback" not in err


def test_job_reports_progress_and_the_result():
    job = AnomalyJob(_cfg(epochs=2), slots=JobSlots(1)).start()
    job.join(120)
    snap = job.snapshot()
    assert snap["state"] == "finished" and snap["fraction"] == 1.0 and snap["n_tasks"] == 1
    assert isinstance(snap["result"], A.AnomalyResult) and snap["done"] == {"0": snap["result"].roc_auc}
    assert snap["curve"]["step"] and len(snap["curve"]["loss"]) == len(snap["curve"]["step"])


def test_job_with_a_parsed_upload_returns_a_result_that_names_it_by_spec(digits):
    up = dataset_from_arrays(digits.x_train[digits.y_train == 0].numpy(), None, spec="npz:/nowhere/zeros.npz",
                             title="zeros")
    job = AnomalyJob(A.AnomalyConfig(up, None, model_config=SMALL, eval_dataset=digits, epochs=2),
                     slots=JobSlots(1)).start()
    job.join(120)
    assert job.state == "finished", job.error  # the worker got the parsed data, never the path
    r = job.snapshot()["result"]
    assert r.config.dataset == "npz:/nowhere/zeros.npz" and r.config.eval_dataset == "digits" and r.model is None
    assert r.summary()["normal"] is None and r.is_anomaly.sum() == len(digits.x_train) + len(digits.x_test)
    assert isinstance(r.examples["relative"]["most"]["images"], np.ndarray)  # by value, not shared memory


def test_benchmark_job_stops_between_classes():
    job = AnomalyJob(_cfg(epochs=200), benchmark=True, slots=JobSlots(1)).start()
    for _ in range(600):
        if job.snapshot()["step"] > 0:
            break
        threading.Event().wait(0.05)
    job.stop()
    job.join(120)
    snap = job.snapshot()
    assert snap["state"] == "stopped" and isinstance(snap["result"], A.BenchmarkResult)
    assert len(snap["result"].results) < 10
