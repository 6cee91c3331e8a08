"""Issue 13: a VAE's likelihood in nats, sample quality (FD, precision/recall, coverage), the CLI contract."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from scipy import linalg

from core import quality as Q
from core.cli import main as cli_main
from core.datasets import dataset_from_arrays
from core.engine import TrainConfig, train
from core.models import build_model, make_config
from core.pipeline import evaluate, train_and_save

VAE_KEYS = {"neg_elbo", "recon_nats", "kl_nats", "nll_iw", "iw_samples"}
QUALITY_KEYS = {"fd", "precision", "recall", "class_coverage"}


@pytest.fixture(scope="module")
def vae(digits):
    """A small conv VAE with the N(0, I) prior (its KL is exact) trained for a few hundred steps on digits."""
    torch.manual_seed(0)
    m = build_model("vae", {"latent_dim": 4, "prior": "normal"}, digits.shape)
    train(m, digits, TrainConfig(epochs=8, batch_size=64, lr=3e-3, preview_every=0))
    return m


# --------------------------------------------------------------------------- VAE likelihood


def test_vae_loss_is_in_nats_per_image(digits):
    torch.manual_seed(0)
    m = build_model("vae", {"beta": 2.0}, digits.shape)
    x = digits.x_train[:32]
    parts = {k: v.detach() for k, v in m.loss(x).items()}
    assert float(parts["loss"]) == pytest.approx(float(parts["recon"] + 2.0 * parts["kl"]), rel=1e-5)
    # An untrained decoder outputs ~0.5 everywhere: about log 2 nats per pixel, summed over 64 pixels.
    assert 0.5 * 64 * math.log(2) < float(parts["recon"]) < 2 * 64 * math.log(2)


def test_likelihood_parts_add_up_and_match_torch_distributions(vae, digits):
    x = digits.x_test[:200]
    out = vae.likelihood(x, k=16)
    assert set(out) == VAE_KEYS and out["iw_samples"] == 16
    assert out["neg_elbo"] == pytest.approx(out["recon_nats"] + out["kl_nats"], rel=1e-6)
    with torch.no_grad():  # the KL part is exact: check it against torch.distributions
        mu, logvar = vae.moments(x)
        q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
        p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
        kl = float(torch.distributions.kl_divergence(q, p).sum(1).mean())
        # reconstruction: Bernoulli log-likelihood of the grey levels at the posterior mean (close to
        # the k-sample average when the posterior is narrow; checked loosely)
        bern = torch.distributions.Bernoulli(logits=vae.decode_logits(mu), validate_args=False)
        rec_mean = float(-bern.log_prob(x).flatten(1).sum(1).mean())
    assert out["kl_nats"] == pytest.approx(kl, rel=1e-4)
    assert out["recon_nats"] == pytest.approx(rec_mean, rel=0.15)
    assert out["recon_nats"] >= rec_mean - 0.5  # noise in z can only blur the reconstruction on average


def test_iwae_bound_tightens_with_k_and_sits_below_the_elbo(vae, digits):
    x = digits.x_test[:300]
    k1, k8, k128 = (vae.likelihood(x, k=k) for k in (1, 8, 128))
    # k = 1 is the ELBO again (with a sampled instead of exact KL): close to neg_elbo.
    assert k1["nll_iw"] == pytest.approx(k1["neg_elbo"], rel=0.03)
    assert k128["nll_iw"] < k8["nll_iw"] < k1["nll_iw"]
    assert k128["nll_iw"] < k128["neg_elbo"]
    assert vae.likelihood(x, k=8) == k8, "seeded: the same numbers every time"
    with pytest.raises(ValueError, match="at least 1 sample"):
        vae.likelihood(x, k=0)


def test_vae_evaluate_reports_the_paper_numbers(vae, digits):
    m = evaluate(vae, digits, "test", iw_samples=4)
    assert VAE_KEYS <= set(m) and m["iw_samples"] == 4
    assert QUALITY_KEYS <= set(m) and m["fd_samples"] == Q.SCORE_SAMPLES
    assert "recon_bce" in m, "the per-pixel reconstruction numbers stay"


# --------------------------------------------------------------------------- precision / recall / coverage


def test_precision_recall_match_a_brute_force_loop():
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(40, 3, generator=g), torch.randn(30, 3, generator=g) * 1.5 + 0.5
    k = 3

    def radius(points, i):
        d = sorted(float((points[i] - points[j]).norm()) for j in range(len(points)) if j != i)
        return d[k - 1]

    r_real = [radius(real, i) for i in range(len(real))]
    r_fake = [radius(fake, i) for i in range(len(fake))]
    prec = np.mean([any(float((f - real[i]).norm()) <= r_real[i] for i in range(len(real))) for f in fake])
    rec = np.mean([any(float((r - fake[j]).norm()) <= r_fake[j] for j in range(len(fake))) for r in real])
    assert Q.precision_recall(real, fake, k) == pytest.approx((prec, rec))
    assert Q.precision_recall(real, real, k) == (1.0, 1.0)
    with pytest.raises(ValueError, match="more than 3"):
        Q.precision_recall(real[:3], fake)


def test_coverage_counts_classes_with_a_fair_share():
    pred = torch.tensor([0] * 50 + [1] * 47 + [2] * 3)  # class 2 has 12% of its fair share
    covered, even = Q.coverage(pred, 4)
    assert covered == pytest.approx(2 / 4)
    assert 0 < even < 1
    assert Q.coverage(torch.arange(100) % 4, 4) == pytest.approx((1.0, 1.0))


# --------------------------------------------------------------------------- the feature space and FD


def test_scorer_ranks_real_images_over_noise_and_one_class(digits):
    sc = Q.SampleScorer(digits)
    assert sc.space.accuracy > 0.85, "the feature net is a decent classifier"
    real = sc.score_images(digits.x_test[:300])
    noise = sc.score_images(torch.rand(300, *digits.shape, generator=torch.Generator().manual_seed(0)))
    ones = sc.score_images(digits.x_test[digits.y_test == 1])
    assert real["fd"] * 5 < min(ones["fd"], noise["fd"])
    assert real["precision"] > 0.6 and real["recall"] > 0.6 and real["class_coverage"] == 1.0
    assert noise["precision"] < real["precision"] and noise["recall"] < real["recall"] / 2
    assert ones["class_coverage"] <= 0.2 and ones["recall"] < real["recall"]
    assert set(real) >= QUALITY_KEYS | {"class_evenness", "fd_samples"}


def test_fd_matches_the_formula(digits):
    sc = Q.SampleScorer(digits)
    fake = digits.x_test[:200]
    fd = sc.score_images(fake)["fd"]
    a, b = sc.real.double().numpy(), sc.space.features(fake).double().numpy()
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    ref = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(ca + cb - 2 * linalg.sqrtm(ca @ cb).real)
    assert fd == pytest.approx(ref, rel=1e-3)


def test_feature_net_is_cached_on_disk_and_deterministic(digits, tmp_path, monkeypatch):
    space = Q.feature_space(digits)
    assert Q.feature_space(digits) is space, "memoised in the process"
    monkeypatch.setenv("LATENT_LAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(Q, "BUNDLED_DIR", tmp_path / "no-bundle")  # a dataset that ships no net
    Q._MEMO.clear()
    space = Q.feature_space(digits)  # trained afresh: nothing in this cache folder yet
    files = list((tmp_path / "cache" / "feature-nets").glob("*.safetensors"))
    assert len(files) == 1
    assert not (tmp_path / "data").exists() and not (tmp_path / "runs").exists(), "no trace in data or runs"
    Q._MEMO.clear()
    again = Q.feature_space(digits)  # from the disk cache
    x = digits.x_test[:16]
    assert torch.equal(again.features(x), space.features(x)) and again.accuracy == space.accuracy


def test_unlabeled_data_gets_no_quality_scores_and_a_clear_error():
    x = np.random.default_rng(0).random((60, 1, 8, 8)).astype(np.float32)
    ds = dataset_from_arrays(x, None, spec="unlabeled")
    with pytest.raises(ValueError, match="needs a labeled dataset"):
        Q.feature_space(ds)
    m = build_model("ae", {"latent_dim": 2}, ds.shape)
    assert "fd" not in evaluate(m, ds)


# --------------------------------------------------------------------------- live curve and the CLI


def test_live_quality_events_leave_training_untouched(digits, tmp_path):
    events = []
    cfg = TrainConfig(epochs=2, batch_size=64, max_steps=30, preview_every=0)
    _, m1, _, met = train_and_save("gan", {"width": 16}, digits, cfg, on_event=events.append,
                                   quality_every=10, root=tmp_path / "a")
    q = [e for e in events if e.kind == "quality"]
    assert [e.step for e in q] == [10, 20, 30]
    assert QUALITY_KEYS <= set(q[0].losses) and q[0].losses["fd_samples"] == Q.LIVE_SAMPLES
    _, m2, _, _ = train_and_save("gan", {"width": 16}, digits, cfg, on_event=lambda e: None,
                                 root=tmp_path / "b")
    for (k, a), b in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(a, b), f"scoring moved the training's random stream ({k})"
    assert QUALITY_KEYS <= set(met)


def _cli(capsys, *argv):
    code = cli_main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_json_carries_the_contract_keys(tmp_path, capsys):
    run = tmp_path / "vae-run"
    code, out, err = _cli(capsys, "train", "--model", "vae", "--dataset", "digits", "--epochs", "1",
                          "--latent-dim", "2", "--out", str(run))
    assert code == 0, err
    trained = json.loads(out)
    assert VAE_KEYS | QUALITY_KEYS <= set(trained)
    code, out, err = _cli(capsys, "eval", "--run", str(run), "--iw-samples", "8")
    assert code == 0, err
    ev = json.loads(out)
    assert VAE_KEYS | QUALITY_KEYS <= set(ev) and ev["iw_samples"] == 8
    assert isinstance(ev["neg_elbo"], float) and ev["neg_elbo"] > 0
    code, out, err = _cli(capsys, "eval", "--run", str(run), "--iw-samples", "0")
    assert code == 2 and "--iw-samples" in err and len(err.strip().splitlines()) == 1


def test_cli_eval_of_a_gan_scores_its_samples(tmp_path, capsys):
    run = tmp_path / "gan-run"
    code, _, err = _cli(capsys, "train", "--model", "gan", "--dataset", "digits", "--max-steps", "20",
                        "--set", "width=16", "--out", str(run))
    assert code == 0, err
    code, out, err = _cli(capsys, "eval", "--run", str(run))
    assert code == 0, err
    ev = json.loads(out)
    assert QUALITY_KEYS <= set(ev) and not VAE_KEYS & set(ev)
    code, _, err = _cli(capsys, "eval", "--run", str(run), "--iw-samples", "8")
    assert code == 2 and "VAE" in err


def test_vae_hidden_layer_is_on_by_default_and_older_runs_keep_their_layers(digits, tmp_path):
    from dataclasses import asdict

    from core.store import load_run, save_run
    # A run saved before 'fc' existed: its whole config, without the key, and the old layer names.
    before = {k: v for k, v in asdict(make_config("vae", {"fc": 0})).items() if k != "fc"}
    assert make_config("vae", before).fc == 0
    old = build_model("vae", before, digits.shape)
    assert {"body.enc.2.weight", "body.fc.weight"} <= set(old.state_dict()), "the layer names of older runs"
    path = save_run(old, dataset="digits", path=tmp_path / "old-vae")
    meta = json.loads((path / "run.json").read_text())
    meta["config"].pop("fc")
    (path / "run.json").write_text(json.dumps(meta))
    assert load_run(path).model.config.fc == 0  # loads, weights and all
    torch.manual_seed(0)
    wide = build_model("vae", None, digits.shape)  # today's default: a 256-wide layer around the code
    assert wide.config.fc == 256
    assert {"body.enc.2.weight", "body.enc.4.weight", "body.fc.0.weight", "body.fc.2.weight"} <= set(wide.state_dict())
    parts = wide.loss(digits.x_train[:16])
    assert math.isfinite(float(parts["loss"].detach()))


def test_vamp_prior_trains_scores_samples_and_older_runs_keep_the_normal_prior(digits):
    old = {k: v for k, v in json.loads(json.dumps(make_config("vae").__dict__)).items()
           if k not in ("prior", "components")}
    assert make_config("vae", old).prior == "normal", "a run saved before the prior was a choice"
    torch.manual_seed(0)
    vae = build_model("vae", {"prior": "vamp", "components": 8, "latent_dim": 4}, digits.shape)
    train(vae, digits, TrainConfig(epochs=1, preview_every=0))
    px = torch.sigmoid(vae.pseudo.detach())
    assert px.shape == (8, *digits.shape) and float(px.std()) > 0.05, "started from training images"
    x = digits.x_test[:100]
    out = vae.likelihood(x, k=16)
    assert out["neg_elbo"] == pytest.approx(out["recon_nats"] + out["kl_nats"], rel=1e-6)
    assert out["nll_iw"] < out["neg_elbo"] and out["kl_nats"] > 0
    with torch.no_grad():  # log p(z) is the mixture of the pseudo-images' posteriors, equal weights
        mu, logvar = vae.prior_mixture()
        z = torch.randn(5, 4)
        comp = torch.distributions.Independent(torch.distributions.Normal(mu, (0.5 * logvar).exp()), 1)
        mix = torch.distributions.MixtureSameFamily(torch.distributions.Categorical(torch.ones(8)), comp)
        assert torch.allclose(vae.log_prior(z), mix.log_prob(z), atol=1e-4)
    assert vae.prior_sample(7, generator=torch.Generator().manual_seed(0)).shape == (7, 4)


@pytest.mark.parametrize("arch", ["conv", "mlp"])
def test_a_vamp_training_loss_encodes_images_and_pseudo_images_in_one_pass(digits, arch):
    """Issue 23: the training loss encodes the batch and the pseudo-images together (one pass, 7% less
    time a step): its terms equal those of two passes, and the pseudo-images still learn from them."""
    torch.manual_seed(0)
    vae = build_model("vae", {"components": 8, "latent_dim": 4, "arch": arch, "shift": 0}, digits.shape)
    vae.fit_start(digits.x_train)
    vae.train()
    x = digits.x_train[:16]
    calls = []
    hook = vae.body.enc.register_forward_pre_hook(lambda mod, args: calls.append(args[0].shape[0]))
    torch.manual_seed(1)
    parts = vae.loss(x)
    hook.remove()
    assert calls == [16 + 8], "one encoder pass for the batch and the pseudo-images"
    torch.manual_seed(1)
    mu, logvar = vae.moments(x)  # the two-pass way: the batch, then prior_mixture() inside kl()
    z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
    rec = torch.nn.functional.binary_cross_entropy_with_logits(vae.decode_logits(z), x, reduction="none")
    assert float(parts["recon"]) == pytest.approx(float(rec.flatten(1).sum(1).mean()), rel=1e-5)
    assert float(parts["kl"]) == pytest.approx(float(vae.kl(mu, logvar, z).mean()), rel=1e-5)
    parts["loss"].backward()
    assert vae.pseudo.grad is not None and float(vae.pseudo.grad.abs().sum()) > 0


def test_a_saved_vamp_prior_run_loads_with_its_pseudo_images(digits, tmp_path):
    from core.pipeline import train_and_save
    from core.store import load_run

    run, model, _, metrics = train_and_save("vae", {"prior": "vamp", "components": 4, "latent_dim": 3}, digits,
                                            TrainConfig(epochs=1, preview_every=0), root=tmp_path)
    loaded = load_run(run).model
    assert loaded.config.prior == "vamp" and torch.equal(loaded.pseudo, model.pseudo.detach().cpu())
    assert math.isfinite(metrics["neg_elbo"]) and metrics["kl_nats"] > 0


def test_random_shift_moves_whole_pixels_of_a_share_of_the_batch_and_leaves_small_inputs_alone():
    from core.models.autoencoders import random_shift
    torch.manual_seed(0)
    x = torch.rand(400, 2, 20, 24)
    y = random_shift(x, 1, share=0.5)
    assert y.shape == x.shape
    offsets = []
    for a, b in zip(x, y):  # each image is the original moved by (dy, dx) in {-1, 0, 1}^2, zeros filling in
        hits = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                if torch.equal(torch.roll(a, (dy, dx), (1, 2))[:, 1:-1, 1:-1], b[:, 1:-1, 1:-1])]
        assert len(hits) == 1, "a whole-pixel move: values are never interpolated"
        offsets.append(hits[0])
    unmoved = sum(o == (0, 0) for o in offsets) / len(offsets)
    assert 0.45 < unmoved < 0.66, "half stay, and a ninth of the moved half draws (0, 0)"
    assert len(set(offsets)) == 9
    assert torch.equal(random_shift(x, 0), x)
    for small in (torch.rand(8, 1, 8, 8), torch.rand(8, 1, 1, 64)):  # 8x8 digits, a signal
        assert random_shift(small, 2) is small


def test_default_vae_shifts_its_training_images_only_and_older_runs_keep_their_settings(digits):
    from dataclasses import asdict

    import core.models.autoencoders as A
    cfg = make_config("vae")
    assert (cfg.prior, cfg.shift, cfg.widths, cfg.activation) == ("vamp", 1, (16, 32), "silu")
    # A run saved before shifts existed (stop 18's default): no 'shift' or 'activation' key, so it
    # trains and decodes as it did.
    before = {k: v for k, v in asdict(make_config("vae", {"prior": "normal", "widths": (32, 64)})).items()
              if k not in ("shift", "activation")}
    old = make_config("vae", before)
    assert (old.shift, old.prior, old.widths, old.activation) == (0, "normal", (32, 64), "leaky_relu")
    leaky = build_model("vae", before, (1, 28, 28))
    assert not any(isinstance(m, torch.nn.SiLU) for m in leaky.modules())
    assert set(leaky.state_dict()) == set(build_model("vae", {**before, "activation": "silu"}, (1, 28, 28))
                                          .state_dict()), "the activation holds no weights: old files load"
    calls = []
    real = A.random_shift
    try:
        A.random_shift = lambda x, pixels, share=1.0: calls.append((pixels, share)) or real(x, pixels, share)
        m = build_model("vae", {"latent_dim": 4}, (1, 28, 28))
        x = torch.rand(6, 1, 28, 28)
        m.train()
        m.loss(x)
        assert calls == [(1, A.SHIFT_SHARE)]
        m.eval()
        m.loss(x)
        m.likelihood(x, k=2)
        assert len(calls) == 1, "scoring never moves the images"
    finally:
        A.random_shift = real


def test_vae_and_gan_train_with_a_fused_adam_and_the_others_keep_theirs():
    from core.models import MODELS
    for name in MODELS:
        opts = build_model(name, None, (1, 28, 28), 10).configure_optimizers(1e-3)
        assert opts and all(bool(o.defaults["fused"]) == (name in ("vae", "gan")) for o in opts), name
    (vae_opt,) = build_model("vae", None, (1, 28, 28)).configure_optimizers(1e-3)
    assert vae_opt.defaults["betas"] == (0.9, 0.99)



def test_the_bundled_datasets_feature_nets_ship_with_the_code(tmp_path, monkeypatch):
    """A new user's first training is scored without first training the feature net (issue 23)."""
    from core import quality
    from core.datasets import load_dataset

    monkeypatch.setenv("LATENT_LAB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(quality, "_MEMO", {})

    def no_training(ds):
        raise AssertionError("trained the feature net instead of using the bundled one")

    monkeypatch.setattr(quality, "_train_net", no_training)
    for name in ("mnist5k", "digits"):
        space = quality.feature_space(load_dataset(name))
        assert space.accuracy > 0.9  # the bundled net, with its recorded test accuracy
    assert not (tmp_path / "empty-cache").exists()  # nothing written: the bundle is read in place
