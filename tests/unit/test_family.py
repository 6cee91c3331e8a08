"""The sequence autoencoder, the supervised autoencoder, sequence data and the codes-as-features probe."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from core.cli import main
from core.datasets import DatasetError, dataset_from_upload, load_dataset
from core.datasets.sequences import WAVE_CLASSES, sequences_from_arrays, wave_arrays
from core.engine import TrainConfig, train
from core.models import MODELS, ConfigError, build_model, get_spec
from core.store import save_run
from core.probe import class_separation, knn_probe, probe
from ui.figures import probe_figure
from ui.images import PLOT_H, PLOT_W, grid_image

TINY_SEQ = {"hidden": 16, "latent_dim": 4}


@pytest.fixture(scope="module")
def waves():
    return load_dataset("waves")


# --------------------------------------------------------------------------- the sequence autoencoder


def test_seqae_reads_rows_as_steps_with_channels_side_by_side():
    m = build_model("seqae", {**TINY_SEQ, "rows_per_step": 1}, (3, 5, 4))
    x = torch.arange(2 * 3 * 5 * 4, dtype=torch.float32).view(2, 3, 5, 4)
    rows = m._rows(x)
    assert rows.shape == (2, 5, 12)  # H steps of C*W values
    assert torch.equal(rows[1, 2], torch.cat([x[1, 0, 2], x[1, 1, 2], x[1, 2, 2]]))


def test_seqae_reads_k_rows_a_step_padding_the_last():
    """Issue 23: rows_per_step=2 reads rows 2t and 2t+1 at step t; an odd height gets a zero row at its end,
    and the decoder's output drops it again."""
    m = build_model("seqae", {**TINY_SEQ, "rows_per_step": 2}, (3, 5, 4))
    x = torch.arange(2 * 3 * 5 * 4, dtype=torch.float32).view(2, 3, 5, 4)
    rows = m._rows(x)
    assert rows.shape == (2, 3, 24) and (m.steps, m.features) == (3, 24)
    assert torch.equal(rows[1, 1], torch.cat([x[1, :, 2].flatten(), x[1, :, 3].flatten()]))
    assert torch.equal(rows[0, 2, 12:], torch.zeros(12))  # the padding row
    assert m.decode(m.encode(x)).shape == x.shape


def test_seqae_defaults_to_two_rows_and_old_runs_keep_one(tmp_path):
    """New models read two rows a step; a run saved before the knob existed (its whole config without
    it) loads as the row-by-row model it was, with its weights and its outputs."""
    from core.models import make_config
    from core.models.sequence import upgrade_config
    from core.store import load_run

    assert make_config("seqae").rows_per_step == 2
    assert make_config("seqae", {"cell": "lstm"}).rows_per_step == 2  # a user's few options: today's default
    torch.manual_seed(0)
    old = build_model("seqae", {**TINY_SEQ, "rows_per_step": 1}, (1, 6, 3)).eval()
    whole = {k: v for k, v in old.config_dict().items() if k != "rows_per_step"}
    assert upgrade_config(dict(whole))["rows_per_step"] == 1
    path = save_run(old, dataset="digits", path=tmp_path / "old")
    meta_file = path / "run.json"
    meta = json.loads(meta_file.read_text())
    meta["config"] = whole  # as a run saved before the knob was written
    meta_file.write_text(json.dumps(meta))
    back = load_run(path).model
    assert back.config.rows_per_step == 1 and back.steps == 6
    x = torch.rand(2, 1, 6, 3)
    assert torch.allclose(back.decode(back.encode(x)), old.decode(old.encode(x)))


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 10, 6), (1, 64, 1), (1, 7, 5)])
@pytest.mark.parametrize("per_step", [1, 2, 4])
def test_seqae_shapes_for_images_and_sequences(cell, shape, per_step):
    m = build_model("seqae", {**TINY_SEQ, "cell": cell, "rows_per_step": per_step}, shape)
    x = torch.rand(3, *shape)
    z = m.encode(x)
    assert z.shape == (3, 4)
    out = m.decode(z)
    assert out.shape == (3, *shape) and 0 <= float(out.detach().min()) and float(out.detach().max()) <= 1
    assert isinstance(m.enc, torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)


@pytest.mark.parametrize("per_step", [1, 2])
def test_seqae_code_is_the_state_after_the_last_step(per_step):
    m = build_model("seqae", {**TINY_SEQ, "rows_per_step": per_step}, (1, 6, 3)).eval()
    x = torch.rand(2, 1, 6, 3)
    later = x.clone()
    later[:, :, -1] = 1 - later[:, :, -1]  # change only the last row: the code must change
    assert not torch.allclose(m.encode(x), m.encode(later))
    _, h = m.enc(m._rows(x))
    assert torch.allclose(m.encode(x), m.to_code(h[-1]))


def test_seqae_learns_on_the_threads_it_is_given(digits):
    """Issue 23: the sequence AE has no thread count of its own (it took 1 before): it trains on the
    threads a job's share gives it, like every family, here the budget this test process has."""
    from core.device import thread_budget

    torch.manual_seed(0)
    m = build_model("seqae", {"hidden": 32, "latent_dim": 8}, digits.shape)
    assert m.train_threads is None
    x = digits.x_train[:256]
    mean_image = x.mean(0, keepdim=True).clamp(1e-6, 1 - 1e-6).expand_as(digits.x_test)
    baseline = float(torch.nn.functional.binary_cross_entropy(mean_image, digits.x_test))
    seen = []
    res = train(m, (x, None), TrainConfig(epochs=10, batch_size=32, lr=1e-2, preview_every=0),
                on_event=lambda e: seen.append(torch.get_num_threads()) if e.kind == "step" else None)
    assert res.status == "finished" and set(seen) == {thread_budget()}
    assert m.evaluate(digits.x_test)["recon_bce"] < 0.9 * baseline  # beats the mean image on unseen digits


def test_seqae_spec_text_and_defaults():
    spec = get_spec("seqae")
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", spec.description.strip()) if s]
    assert len(sentences) == 3 and "CAE" in spec.description
    assert "GRU" in spec.loss_latex and spec.is_latent and not spec.needs_labels
    assert spec.train_defaults["lr_schedule"] == "cosine"
    with pytest.raises(ConfigError, match="cell"):
        build_model("seqae", {"cell": "rnn"}, (1, 8, 8))


# --------------------------------------------------------------------------- the supervised autoencoder


@pytest.mark.parametrize("arch", ["conv", "mlp"])
def test_sae_tied_decoder_reuses_the_encoder_weights(arch, digits):
    torch.manual_seed(0)
    tied = build_model("sae", {"arch": arch, "tied": True, "latent_dim": 8}, digits.shape, 10)
    untied = build_model("sae", {"arch": arch, "tied": False, "latent_dim": 8}, digits.shape, 10)
    assert tied.dec_w is None and untied.dec_w is not None
    n_enc = sum(p.numel() for m in [*tied.enc, tied.to_code] for p in [m.weight])
    assert sum(p.numel() for p in untied.parameters()) - sum(p.numel() for p in tied.parameters()) == n_enc
    z = torch.randn(2, 8)
    before = tied.decode(z)
    with torch.no_grad():
        tied.enc[0].weight.mul_(2)  # the encoder's first layer is the decoder's last
    assert not torch.allclose(before, tied.decode(z))
    assert tied.decode(z).shape == (2, *digits.shape)


def test_sae_loss_is_reconstruction_plus_alpha_cross_entropy(digits):
    x, y = digits.x_train[:32], digits.y_train[:32]
    torch.manual_seed(0)
    m = build_model("sae", {"alpha": 2.0, "latent_dim": 8}, digits.shape, 10)
    parts = m.loss(x, y)
    assert torch.isclose(parts["loss"], parts["recon"] + 2.0 * parts["ce"])
    unlabeled = torch.full_like(y, -1)
    assert float(m.loss(x, unlabeled)["ce"]) == 0.0  # -1 = no label: reconstruction only
    with pytest.raises(ValueError, match="needs labels"):
        m.loss(x, None)


def test_sae_needs_labels_everywhere(tmp_path, capsys):
    spec = get_spec("sae")
    assert spec.needs_labels and spec.is_latent and spec.reconstructs
    assert not get_spec("cae").needs_labels and get_spec("cnn").needs_labels
    with pytest.raises(ConfigError, match="labeled"):
        build_model("sae", None, (1, 8, 8), 0)
    x = np.random.default_rng(0).random((40, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "unlabeled.npz", x=x)
    assert main(["train", "--model", "sae", "--dataset", f"npz:{tmp_path / 'unlabeled.npz'}", "--max-steps", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "needs labels" in err and len(err.splitlines()) == 1


def test_sae_trains_and_reports_its_head_accuracy(digits):
    torch.manual_seed(0)
    m = build_model("sae", {"latent_dim": 8, "alpha": 1.0, "arch": "mlp", "hidden": [64]}, digits.shape, 10)
    res = train(m, (digits.x_train[:512], digits.y_train[:512]), TrainConfig(epochs=6, batch_size=64, lr=3e-3,
                                                                              preview_every=0))
    assert res.status == "finished" and "ce" in res.final_losses
    met = m.evaluate(digits.x_test, digits.y_test)
    assert met["head_accuracy"] > 0.5 and met["recon_bce"] > 0
    assert "head_accuracy" not in m.evaluate(digits.x_test)


# --------------------------------------------------------------------------- sequence data


def test_waves_are_deterministic_labeled_sequences(waves):
    x1, y1 = wave_arrays()
    x2, y2 = wave_arrays()
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2)
    assert waves.kind == "sequence" and waves.shape == (1, 64, 1) and waves.classes == list(WAVE_CLASSES)
    assert len(waves.x_train) == 1600 and len(waves.x_test) == 400
    assert 0 <= float(waves.x_train.min()) and float(waves.x_train.max()) <= 1
    assert "64 steps x 1 feature" in waves.describe()
    assert torch.bincount(waves.y_test).tolist() == [100] * 4
    assert load_dataset("digits").kind == "image"


def test_npz_kind_sequence_loads_signals_scaled_per_feature(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 30, 3)) * np.array([1.0, 100.0, 0.01]) + np.array([0.0, -500.0, 3.0])
    y = np.arange(50) % 2
    np.savez(tmp_path / "signals.npz", x=x, y=y, kind="sequence")
    ds = load_dataset(f"npz:{tmp_path / 'signals.npz'}")
    assert ds.kind == "sequence" and ds.shape == (1, 30, 3) and ds.n_classes == 2
    both = torch.cat([ds.x_train, ds.x_test])
    assert torch.allclose(both.amin(dim=(0, 1, 2)), torch.zeros(3)) and torch.allclose(both.amax(dim=(0, 1, 2)),
                                                                                         torch.ones(3))
    np.savez(tmp_path / "one.npz", x=rng.random((20, 12)), kind=np.array(b"sequence"))  # (N, T), bytes kind
    one = load_dataset(f"npz:{tmp_path / 'one.npz'}")
    assert one.shape == (1, 12, 1) and not one.labeled
    up = dataset_from_upload("signals.npz", (tmp_path / "signals.npz").read_bytes())
    assert up.kind == "sequence" and up.shape == (1, 30, 3)


def test_a_3d_array_without_kind_stays_an_image_stack(tmp_path):
    np.savez(tmp_path / "images.npz", x=np.random.default_rng(0).random((20, 12, 12)))
    ds = load_dataset(f"npz:{tmp_path / 'images.npz'}")
    assert ds.kind == "image" and ds.shape == (1, 12, 12)


@pytest.mark.parametrize("arrays, needle", [
    ({"x": np.zeros((5, 10, 2)), "kind": "audio"}, "must be the text \"image\" or \"sequence\""),
    ({"x": np.zeros((5, 10, 2)), "kind": np.array([1, 2])}, "must be the text"),
    ({"x": np.zeros((5, 10, 2, 2)), "kind": "sequence"}, "(N, T, F)"),
    ({"x": np.zeros((5, 2, 2)), "kind": "sequence"}, "2 steps"),
    ({"x": np.zeros((5, 10, 100)), "kind": "sequence"}, "100 features"),
    ({"x": np.full((5, 10, 1), np.nan), "kind": "sequence"}, "NaN"),
    ({"x": np.zeros((0, 10, 1)), "kind": "sequence"}, "empty"),
    ({"x": np.zeros((5, 10, 1)), "y": np.zeros(4), "kind": "sequence"}, "must match one to one"),
    ({"x": np.zeros((5, 10, 1)), "x_test": np.zeros((5, 11, 1)), "kind": "sequence"}, "both splits must match"),
])
def test_bad_sequence_files_get_one_line_messages(tmp_path, arrays, needle):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DatasetError) as e:
        load_dataset(f"npz:{tmp_path / 'bad.npz'}")
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_constant_feature_and_fixed_value_range():
    x = np.zeros((10, 6, 2))
    x[..., 1] = np.linspace(0, 4, 6)
    ds = sequences_from_arrays(x, spec="s", title="s")
    assert float(ds.x_train[..., 0].max()) == 0.5 and float(ds.x_train[..., 1].max()) == 1.0
    fixed = sequences_from_arrays(x, value_range=(0.0, 8.0))
    assert float(torch.cat([fixed.x_train, fixed.x_test])[..., 1].max()) == 0.5


# --------------------------------------------------------------------------- line plots


def test_sequences_are_drawn_as_line_plots(waves):
    grid = grid_image(waves.x_test[:6], nrow=3, kind="sequence")
    assert grid.dtype == np.uint8 and grid.ndim == 3 and grid.shape[2] == 3
    assert grid.shape[0] > 2 * PLOT_H and grid.shape[1] > 3 * PLOT_W
    line = np.array([0x1F, 0x77, 0xB4])  # the palette's first colour
    assert (np.abs(grid.astype(int) - line).sum(2) < 60).sum() > 100  # the line is drawn in it
    other = grid_image(waves.x_test[6:12], nrow=3, kind="sequence")
    assert not np.array_equal(grid, other)
    image = grid_image(waves.x_test[:6], nrow=3)  # the same tensor as an image: a thin strip of pixels
    assert image.shape != grid.shape


def test_reconstruction_pairs_of_many_features_draw_a_line_each():
    x = torch.rand(2, 1, 20, 3)
    assert grid_image(x, nrow=1, padding=0, kind="sequence").shape == (2 * (PLOT_H + 2) + 2, PLOT_W + 4, 3)


# --------------------------------------------------------------------------- codes as features


@pytest.fixture(scope="module")
def ae_digits():
    torch.manual_seed(0)
    ds = load_dataset("digits")
    m = build_model("ae", {"latent_dim": 8, "hidden": [64]}, ds.shape)
    train(m, ds, TrainConfig(epochs=5, batch_size=64, preview_every=0))
    return m


def test_probe_reports_every_representation_and_level(ae_digits, digits):
    res = probe(ae_digits, digits, draws=2)
    for key in ("linear", "knn", "pixels_linear", "pixels_knn", "pca_linear", "pca_knn"):
        assert 0.0 <= res[key] <= 1.0, key
        assert res[key] == res["by_labels"]["all"][key]
    assert list(res["by_labels"]) == ["1", "5", "10", "50", "all"]
    assert res["pixels_linear"] > 0.9 and res["linear"] > 0.6  # digits: pixels are already good features
    assert res["by_labels"]["1"]["pixels_linear"] < res["by_labels"]["50"]["pixels_linear"]
    assert res["dim"] == 8 and res["n_train"] == len(digits.x_train) and res["n_eval"] == len(digits.x_test)
    assert "test split" in res["eval"]


def test_probe_levels_beyond_the_smallest_class_are_left_out(ae_digits, digits):
    res = probe(ae_digits, digits, levels=(1, 500, None), draws=1)
    assert list(res["by_labels"]) == ["1", "all"]


def test_probe_refuses_unlabeled_data_and_models_without_codes(ae_digits, digits):
    from core.datasets import dataset_from_arrays
    unlabeled = dataset_from_arrays(digits.x_train[:50].numpy())
    with pytest.raises(DatasetError, match="no labels"):
        probe(ae_digits, unlabeled)
    cnn = build_model("cnn", None, digits.shape, 10)
    with pytest.raises(ValueError, match="latent space"):
        probe(cnn, digits)


def test_class_separation_and_knn_on_toy_codes():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 20)
    apart = rng.normal(size=(60, 2)) * 0.1 + y[:, None] * 5.0
    mixed = rng.normal(size=(60, 2))
    assert class_separation(apart, y, apart, y) == 1.0
    assert class_separation(mixed, y, mixed[::-1], y) < 0.7
    one_each = np.array([0, 20, 40])
    assert knn_probe(apart[one_each], y[one_each], apart, y) == 1.0  # k falls to 1 with 1 label per class


def test_probe_figure_has_a_line_per_representation_and_classifier():
    by = {lv: {k: 0.5 for k in ("linear", "knn", "pixels_linear", "pixels_knn", "pca_linear", "pca_knn")}
          for lv in ("1", "5", "all")}
    fig = probe_figure(by)
    assert len(fig.data) == 6 and list(fig.data[0].x) == ["1", "5", "all"]
    assert {t.line.dash for t in fig.data} == {"solid", "dash"}


def test_probe_and_train_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "seq"
    assert main(["train", "--model", "seqae", "--dataset", "waves", "--max-steps", "3", "--set", "hidden=16",
                 "--out", str(out)]) == 0
    trained = json.loads(capsys.readouterr().out)
    assert trained["model"] == "seqae" and trained["recon_bce"] > 0
    assert main(["probe", "--run", str(out), "--draws", "1"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert {"linear", "knn", "pixels_linear", "pca_linear", "by_labels"} <= set(res)
    assert set(res["by_labels"]) == {"1", "5", "10", "50", "all"} and res["dataset"] == "waves"
    assert main(["probe", "--run", str(out), "--eval-dataset", "digits"]) == 2
    assert "1x8x8" in capsys.readouterr().err


def test_probe_cli_refuses_a_gan_in_one_line(tmp_path, capsys):
    path = save_run(build_model("gan", {"latent_dim": 4}, (1, 8, 8)), dataset="digits", path=tmp_path / "g")
    assert main(["probe", "--run", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "needs a model with an encoder" in err and len(err.splitlines()) == 1


def test_new_families_are_registered_latent_models():
    assert {"seqae", "sae"} <= set(MODELS)
    assert list(MODELS).index("seqae") < list(MODELS).index("gan")  # offered with the other autoencoders


def test_a_lone_sequence_is_drawn_bigger():
    one = grid_image(torch.rand(1, 1, 20, 1), nrow=1, kind="sequence")
    two = grid_image(torch.rand(2, 1, 20, 1), nrow=2, kind="sequence")
    assert one.shape[1] > 2 * PLOT_W and two.shape[1] < 2 * PLOT_W + 10


def test_seqae_starts_its_output_at_the_data_mean_and_restores_threads(waves):
    m = build_model("seqae", TINY_SEQ, waves.shape)
    assert not bool(m.bias_ready)
    threads = torch.get_num_threads()
    train(m, (waves.x_train[:64], None), TrainConfig(max_steps=1, batch_size=64, preview_every=0))
    assert bool(m.bias_ready) and torch.get_num_threads() == threads
    assert abs(float(torch.sigmoid(m.out.bias)[0]) - float(waves.x_train[:64].mean())) < 0.05
