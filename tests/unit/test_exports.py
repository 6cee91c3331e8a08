"""core.exports: the CSV and the TensorBoard projector TSVs parse back to what went in."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from core import exports as E


def test_export_csv_parses_back():
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(6, 3)).astype(np.float32)
    proj = rng.normal(size=(6, 2)).astype(np.float32)
    labels = np.array([0, 1, 2, 0, 1, 2])
    errors = rng.uniform(size=6).astype(np.float32)
    text = E.export_csv(codes, proj, labels, errors, classes=["zero", "one", "two"])
    df = pd.read_csv(io.StringIO(text))
    assert list(df.columns) == ["index", "label", "class", "recon_error", "x", "y", "z0", "z1", "z2"]
    assert list(df["index"]) == list(range(6)) and list(df["class"])[:3] == ["zero", "one", "two"]
    assert np.allclose(df[["z0", "z1", "z2"]].to_numpy(), codes, rtol=1e-5, atol=1e-6)
    assert np.allclose(df[["x", "y"]].to_numpy(), proj, rtol=1e-5, atol=1e-6)
    assert np.allclose(df["recon_error"], errors, rtol=1e-5)
    # codes only; a 3-D projection
    assert list(pd.read_csv(io.StringIO(E.export_csv(codes))).columns) == ["index", "z0", "z1", "z2"]
    three = pd.read_csv(io.StringIO(E.export_csv(codes, rng.normal(size=(6, 3)))))
    assert {"x", "y", "z"} <= set(three.columns)
    with pytest.raises(ValueError):
        E.export_csv(codes, proj[:3])


def test_export_projector_tsv_format():
    codes = np.arange(12, dtype=np.float32).reshape(4, 3) / 7
    vectors, meta = E.export_projector_tsv(codes, [0, 1, 1, 0], ["cat", "dog"])
    back = np.loadtxt(io.StringIO(vectors), delimiter="\t")
    assert back.shape == (4, 3) and np.allclose(back, codes, rtol=1e-5)
    assert "class" not in vectors and len(vectors.splitlines()) == 4  # no header
    assert meta.splitlines() == ["cat", "dog", "dog", "cat"]  # one column: no header
    _, meta2 = E.export_projector_tsv(codes, [0, 1, 1, 0], ["cat", "dog\tpuppy"],
                                      extra={"error": [0.1, 0.2, 0.3, 0.4]})
    rows = [r.split("\t") for r in meta2.splitlines()]
    assert rows[0] == ["class", "error"] and len(rows) == 5 and rows[2] == ["dog puppy", "0.2"]
    _, meta3 = E.export_projector_tsv(codes)
    assert meta3.splitlines() == ["0", "1", "2", "3"]
    _, meta4 = E.export_projector_tsv(codes, [3, 1, 1, 0])
    assert meta4.splitlines() == ["3", "1", "1", "0"]
