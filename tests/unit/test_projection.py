"""core.projection: PCA / UMAP / t-SNE shapes and seeds, input checks; and the `project` CLI command."""
from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from core import projection as P
from core.umap_graph import auto_epochs, knn
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def blobs():
    """300 points in 16-d around 3 centres, and their labels."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16)) * 6
    y = np.arange(300) % 3
    return (centres[y] + rng.normal(size=(300, 16))).astype(np.float32), y


def test_pca_matches_sklearn_and_is_deterministic(blobs):
    from sklearn.decomposition import PCA

    x, _ = blobs
    p = P.Projector("pca", n_components=3)
    emb = p.fit_transform(x)
    assert emb.shape == (300, 3) and emb.dtype == np.float32
    ref = PCA(3).fit_transform(x.astype(np.float64))
    assert np.allclose(np.abs(emb), np.abs(ref), atol=1e-3)  # same axes up to sign
    assert np.array_equal(emb, P.Projector("pca", n_components=3).fit_transform(x))
    assert p.fit(x) is p and p.info_["n"] == 300
    # A 1-D latent is padded to 2-D.
    assert P.Projector("pca").fit_transform(x[:, :1]).shape == (300, 2)


def test_projector_is_a_sklearn_estimator():
    p = P.Projector("umap", n_neighbors=7, random_state=3)
    assert p.get_params()["n_neighbors"] == 7 and p.get_params()["random_state"] == 3
    assert p.set_params(min_dist=0.5).min_dist == 0.5
    assert not hasattr(p, "embedding_")  # nothing learned before fit


def test_umap_shapes_seed_and_progress(blobs):
    x, y = blobs
    stages = []
    p = P.Projector("umap", n_neighbors=10, random_state=0)
    emb = p.fit_transform(x, progress=lambda s, f: stages.append((s, f)))
    assert emb.shape == (300, 2) and emb.dtype == np.float32 and np.isfinite(emb).all()
    names = [s for s, _ in stages]
    assert names[0] == "k-NN graph" and names[-1] == "done"
    assert names.index("k-NN graph") < names.index("fuzzy graph") < names.index("optimising layout")
    assert all(0.0 <= f <= 1.0 for _, f in stages)
    assert p.info_["n_epochs"] == auto_epochs(300) == 500 and p.info_["init"] == "spectral"
    # Same seed, same layout; another seed, another layout.
    assert np.array_equal(emb, P.Projector("umap", n_neighbors=10, random_state=0).fit_transform(x))
    assert not np.array_equal(emb, P.Projector("umap", n_neighbors=10, random_state=1).fit_transform(x))
    # The clusters stay apart: every point's 5 nearest layout neighbours share its label.
    nb = knn(emb, 6)[0][:, 1:]
    assert (y[nb] == y[:, None]).mean() > 0.95
    emb3 = P.Projector("umap", n_components=3, n_epochs=50, init="pca").fit_transform(x)
    assert emb3.shape == (300, 3)


def test_umap_tiny_inputs():
    x = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    p = P.Projector("umap", n_neighbors=15).fit(x)  # n_neighbors clipped to N - 1
    assert p.embedding_.shape == (6, 2) and p.info_["n_neighbors"] == 5


def test_tsne_shape_and_seed(blobs):
    x, _ = blobs
    a = P.Projector("tsne", perplexity=10, random_state=0).fit_transform(x[:80])
    assert a.shape == (80, 2)
    assert np.allclose(a, P.Projector("tsne", perplexity=10, random_state=0).fit_transform(x[:80]))


@pytest.mark.parametrize("kwargs, x, match", [
    ({"method": "lda"}, None, "unknown projection method"),
    ({"n_components": 4}, None, "2 or 3"),
    ({"n_neighbors": 1}, None, "n_neighbors"),
    ({"min_dist": 2.0}, None, "min_dist"),
    ({"method": "tsne", "perplexity": 0}, None, "perplexity"),
    ({}, np.full((10, 3), np.nan), "NaN"),
    ({}, np.zeros((3, 3)), "at least 4 points"),
    ({}, np.zeros(10), "2-D"),
])
def test_bad_input_is_a_clear_value_error(kwargs, x, match):
    x = np.random.default_rng(0).normal(size=(20, 3)) if x is None else x
    with pytest.raises(ValueError, match=match):
        P.Projector(**kwargs).fit(x)


# --------------------------------------------------------------------------- CLI


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, digits):
    from core.engine import TrainConfig
    from core.pipeline import train_and_save

    path = tmp_path_factory.mktemp("runs") / "cae-digits"
    train_and_save("cae", {"latent_dim": 4, "widths": [8, 16]}, digits,
                   TrainConfig(epochs=1, batch_size=128, preview_every=0), path=path)
    return path


def test_cli_project_end_to_end(tiny_run, digits, tmp_path):
    out = tmp_path / "umap.csv"
    proc = subprocess.run(
        [sys.executable, "-m", "core", "project", "--run", str(tiny_run), "--dataset", "digits",
         "--method", "pca", "--out", str(out), "--dim", "3"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["out"] == str(out) and res["n"] == len(digits.x_test) and res["method"] == "pca"
    assert res["seconds"] > 0 and "PCA of" in proc.stderr
    df = pd.read_csv(out)
    assert len(df) == len(digits.x_test)
    assert {"index", "label", "recon_error", "x", "y", "z", "z0", "z3"} <= set(df.columns)
    assert (df["label"].to_numpy() == digits.y_test.numpy()).all()


def test_cli_project_umap_in_process(tiny_run, tmp_path, capsys):
    from core.cli import main

    out = tmp_path / "p.csv"
    code = main(["project", "--run", str(tiny_run), "--method", "umap", "--split", "train",
                 "--out", str(out), "--seed", "3", "--limit", "400"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    res = json.loads(captured.out.strip().splitlines()[-1])
    assert res["n"] == 400 and res["method"] == "umap" and res["split"] == "train"
    first = pd.read_csv(io.StringIO(out.read_text()))
    main(["project", "--run", str(tiny_run), "--method", "umap", "--split", "train",
          "--out", str(out), "--seed", "3", "--limit", "400"])
    assert np.array_equal(first[["x", "y"]].to_numpy(), pd.read_csv(out)[["x", "y"]].to_numpy())


def test_cli_project_errors_are_one_line(tiny_run, tmp_path, capsys):
    from core.cli import main

    assert main(["project", "--run", str(tmp_path / "nope"), "--out", str(tmp_path / "a.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err
    assert main(["project", "--run", str(tiny_run), "--dataset", "mnist5k",
                 "--out", str(tmp_path / "a.csv")]) == 2
    assert "8x8" in capsys.readouterr().err
    assert main(["project", "--run", str(tiny_run), "--out", str(tmp_path / "no" / "dir" / "a.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err
