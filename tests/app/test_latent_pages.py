"""AppTest: the Latent space and Generate pages with a run set as current."""
from __future__ import annotations

import pytest

from core.engine import TrainConfig
from core.pipeline import train_and_save
from tests.app.conftest import open_page

LS, GEN = "pages/latent_space.py", "pages/generate.py"


def _ok(at):
    assert not at.exception, [e.value for e in at.exception]


def _captions(at) -> str:
    return " | ".join(c for im in at.image for c in im.captions)


def _tab(at):
    from ui.state import _tabs
    return _tabs()[at.query_params["s"]]


@pytest.fixture(scope="module")
def vae2_digits_run(tmp_path_factory):
    """A VAE with a 2-D latent on digits: the classic latent map."""
    path, *_ = train_and_save("vae", {"latent_dim": 2}, "digits", TrainConfig(epochs=1, batch_size=128),
                              root=tmp_path_factory.mktemp("runs"))
    return path


@pytest.mark.parametrize("page", [LS, GEN])
def test_pages_point_to_train_without_a_run(page):
    at = open_page(page)
    _ok(at)
    assert any("No model yet" in i.value for i in at.info)


@pytest.mark.parametrize("page", [LS, GEN])
def test_pages_refuse_a_classifier(page, cnn_digits_run):
    at = open_page(page, run_path=cnn_digits_run)
    _ok(at)
    assert any("needs a model with a latent space" in w.value for w in at.warning)


def test_latent_space_pca_umap_tsne_and_exports(cae_digits_run, digits):
    at = open_page(LS, run_path=cae_digits_run)
    _ok(at)
    charts = at.get("plotly_chart")
    assert len(charts) == 1
    n_test, n_train = len(digits.x_test), len(digits.x_train)
    assert any(f"{n_test:,} test images" in c.value and "PCA" in c.value for c in at.caption)
    assert len(at.get("download_button")) == 3
    at.radio(key="keep_ls_method").set_value("umap").run()
    _ok(at)
    assert any("UMAP in" in c.value for c in at.caption)
    assert at.slider(key="keep_ls_nn").value == 15
    at.slider(key="keep_ls_nn").set_value(5).run()
    at.radio(key="keep_ls_color").set_value("error").run()
    _ok(at)
    at.radio(key="keep_ls_dim").set_value(3).run()
    _ok(at)
    assert any("selection works on the 2-D plot" in c.value for c in at.caption)
    at.radio(key="keep_ls_method").set_value("tsne").run()
    _ok(at)
    assert any("t-SNE in" in c.value for c in at.caption)
    at.radio(key="keep_ls_split").set_value("train").run()
    _ok(at)
    assert any(f"{n_train:,} train images" in c.value for c in at.caption)
    assert any("Select points" in i.value for i in at.info)  # nothing selected yet


def test_layouts_are_computed_once(cae_digits_run, monkeypatch):
    from core.projection import Projector
    calls, real = [], Projector.fit
    monkeypatch.setattr(Projector, "fit", lambda self, *a, **k: calls.append(self.random_state) or real(self, *a, **k))
    at = open_page(LS, run_path=cae_digits_run)
    for seed in (777, 778, 777, 778):
        at.number_input(key="keep_ls_seed").set_value(seed).run()
        _ok(at)
    assert calls.count(777) == 1 and calls.count(778) == 1  # going back to a layout does not recompute it


def test_generate_tools(cae_digits_run):
    at = open_page(GEN, run_path=cae_digits_run)
    _ok(at)
    assert at.segmented_control(key="keep_gen_tool").value == "Interpolate"
    assert len(at.image) == 2  # the strip and the scrubbed step
    at.slider(key="gen_scrub").set_value(5).run()
    _ok(at)
    assert "step 5 of 8" in _captions(at)  # the slider counts as its caption does (issue 12)
    at.radio(key="keep_gen_method").set_value("lerp").run()
    at.radio(key="keep_gen_how").set_value("random pair of classes").run()
    _ok(at)
    at.radio(key="keep_gen_how").set_value("last selection").run()
    _ok(at)
    assert any("Latent space" in i.value for i in at.info)  # nothing selected yet
    from ui.state import Selection
    _tab(at).selection = Selection(_tab(at).run_path.rsplit("/", 1)[-1], "digits", "train", [3, 10, 42])
    at.run()
    _ok(at)
    assert any("#3 and #42" in c.value for c in at.caption)
    for tool in ("Sample", "Manifold", "Traverse", "Arithmetic"):
        at.segmented_control(key="keep_gen_tool").set_value(tool).run()
        _ok(at)
        assert at.image, tool
    assert len([s for s in at.slider if s.key and s.key.startswith("gen_tr_")]) == 0  # left Traverse
    at.segmented_control(key="keep_gen_tool").set_value("Traverse").run()
    sliders = [s for s in at.slider if s.key and s.key.startswith("gen_tr_")]
    assert len(sliders) == 6
    sliders[0].set_value(sliders[0].max).run()
    _ok(at)


def test_generate_sample_and_manifold_settings(cae_digits_run):
    at = open_page(GEN, run_path=cae_digits_run)
    at.segmented_control(key="keep_gen_tool").set_value("Sample").run()
    assert "Gaussian fitted to the training codes" in _captions(at)
    at.slider(key="keep_gen_temp").set_value(0.5).run()
    _ok(at)
    at.segmented_control(key="keep_gen_tool").set_value("Manifold").run()
    at.radio(key="keep_gen_axes").set_value("two latent dimensions").run()
    at.number_input(key="keep_gen_dj").set_value(3).run()
    at.slider(key="keep_gen_grid").set_value(7).run()
    _ok(at)


def test_two_dimensional_vae_map(vae2_digits_run):
    at = open_page(GEN, run_path=vae2_digits_run)
    at.segmented_control(key="keep_gen_tool").set_value("Manifold").run()
    _ok(at)
    assert at.radio(key="keep_gen_axes").disabled
    at.segmented_control(key="keep_gen_tool").set_value("Traverse").run()
    _ok(at)
    assert len([s for s in at.slider if s.key and s.key.startswith("gen_tr_")]) == 2
    assert "VampPrior" not in _captions(at)
    at.segmented_control(key="keep_gen_tool").set_value("Sample").run()
    assert "VampPrior" in _captions(at), "the default prior, named where samples are drawn"
    at = open_page(LS, run_path=vae2_digits_run)
    _ok(at)
