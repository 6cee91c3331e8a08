"""AppTest: the sequence AE on sequence data, the supervised AE beside a plain AE, codes as features."""
from __future__ import annotations

import pytest

from core.engine import TrainConfig
from core.pipeline import train_and_save
from tests.app.conftest import open_page

LS, GEN, REC, TRAIN = "pages/latent_space.py", "pages/generate.py", "pages/reconstructions.py", "pages/train.py"


def _ok(at):
    assert not at.exception, [e.value for e in at.exception]


@pytest.fixture(scope="module")
def seq_waves_run(tmp_path_factory):
    """A small sequence AE on the bundled waves."""
    path, *_ = train_and_save("seqae", {"hidden": 16, "latent_dim": 4}, "waves",
                              TrainConfig(epochs=1, batch_size=64, lr=1e-2), root=tmp_path_factory.mktemp("runs"))
    return path


@pytest.fixture(scope="module")
def digits_runs(tmp_path_factory):
    """(runs folder, SAE run, plain AE run) on digits, in one runs folder."""
    root = tmp_path_factory.mktemp("runs")
    small = {"arch": "mlp", "hidden": [64], "latent_dim": 8}
    ae, *_ = train_and_save("ae", {"hidden": [64], "latent_dim": 8}, "digits", TrainConfig(epochs=2), root=root)
    sae, *_ = train_and_save("sae", small, "digits", TrainConfig(epochs=2), root=root)
    return root, sae, ae


@pytest.fixture
def drawn(monkeypatch):
    """Counts the samples drawn as line plots (ui.images.sequence_grid) while a page runs."""
    import ui.images as images
    calls, real = [], images.sequence_grid
    monkeypatch.setattr(images, "sequence_grid", lambda x, *a, **k: calls.append(len(x)) or real(x, *a, **k))
    return calls


def test_sequence_ae_on_waves_works_on_every_latent_page_with_line_plots(seq_waves_run, drawn):
    at = open_page(REC, run_path=seq_waves_run, dataset="waves")
    _ok(at)
    assert len(at.image) >= 16 and len(drawn) >= 17  # 16 pairs + the worst cases, all as line plots
    at.switch_page(LS).run()
    _ok(at)
    assert at.get("plotly_chart")
    at.switch_page(GEN).run()
    _ok(at)
    for tool in ("Sample", "Manifold", "Traverse", "Arithmetic"):
        before = len(drawn)
        at.segmented_control(key="keep_gen_tool").set_value(tool).run()
        _ok(at)
        assert at.image and len(drawn) > before, tool


def test_images_stay_images(cae_digits_run, drawn):
    at = open_page(REC, run_path=cae_digits_run)
    _ok(at)
    assert at.image and not drawn


def test_train_form_offers_the_sequence_ae_and_explains_it():
    at = open_page(TRAIN, dataset="waves")
    at.selectbox(key="form_model").set_value("seqae").run()
    _ok(at)
    assert at.radio(key="form_seqae_cell").options == ["gru", "lstm"]
    assert at.select_slider(key="form_seqae_hidden").value == 128
    rows = at.select_slider(key="form_seqae_rows_per_step")
    assert rows.value == 2 and list(rows.options) == ["1", "2", "4"] and "Rows per step" in rows.label
    assert at.number_input(key="form_seqae_epochs").value == 20
    assert at.select_slider(key="form_seqae_lr").value == 0.01
    assert at.expander[0].label == "How a sequence autoencoder (GRU/LSTM) learns"
    assert any("CAE" in m.value for m in at.markdown) and at.latex
    at.selectbox(key="form_model").set_value("sae").run()
    _ok(at)
    assert at.toggle(key="form_sae_tied").value is False and at.slider(key="form_sae_alpha").value == 0.1


def test_supervised_ae_map_beside_the_plain_ae_with_class_separation(digits_runs, monkeypatch):
    root, sae, ae = digits_runs
    monkeypatch.setenv("LATENT_LAB_HOME", str(root))
    at = open_page(LS, run_path=sae)
    _ok(at)
    assert at.toggle(key="keep_ls_beside").value is True  # on by default for a model that learns from labels
    box = at.selectbox(key=f"ls_beside_{sae.name}")
    assert box.value == ae.name
    metrics = [m for m in at.metric if "classes separate" in m.label]
    assert [m.label.split(":")[0] for m in metrics] == ["Supervised autoencoder", "Autoencoder (MLP)"]
    assert all(m.value.endswith("%") for m in metrics)
    assert len(at.get("plotly_chart")) == 3  # the big map and the two side by side
    at = open_page(LS, run_path=ae)
    _ok(at)
    assert at.toggle(key="keep_ls_beside").value is False and len(at.get("plotly_chart")) == 1
    at.toggle(key="keep_ls_beside").set_value(True).run()
    _ok(at)
    assert at.selectbox(key=f"ls_beside_{ae.name}").value == sae.name


def test_beside_says_what_to_train_when_there_is_nothing_to_compare(digits_runs, tmp_path, monkeypatch):
    _, sae, _ = digits_runs
    monkeypatch.setenv("LATENT_LAB_HOME", str(tmp_path / "empty"))
    at = open_page(LS, run_path=sae)
    _ok(at)
    assert any("autoencoder without labels" in i.value for i in at.info)


def test_codes_as_features_section(digits_runs):
    _, sae, _ = digits_runs
    at = open_page(LS, run_path=sae)
    at.button(key="ls_probe").click().run(timeout=300)
    _ok(at)
    labels = [m.label for m in at.metric]
    for want in ("Codes, logistic regression", "Codes, k-NN", "Raw pixels, logistic regression",
                 "PCA-8, logistic regression"):
        assert want in labels
    assert len(at.get("plotly_chart")) == 2  # the map and the accuracy against labels per class
    at.radio(key="keep_ls_method").set_value("umap").run()  # the result stays without measuring again
    _ok(at)
    assert "Codes, k-NN" in [m.label for m in at.metric]
