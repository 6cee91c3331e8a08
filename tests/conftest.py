"""Shared fixtures: tiny datasets and an isolated run store."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session")
def _model_cache(tmp_path_factory):
    """One cache of derived models (core.quality's feature nets) for the session, outside every test's folder."""
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(autouse=True)
def _isolated_store(tmp_path, monkeypatch, _model_cache):
    """Every test gets its own runs folder and data cache."""
    monkeypatch.setenv("LATENT_LAB_HOME", str(tmp_path / "runs"))
    monkeypatch.setenv("LATENT_LAB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("LATENT_LAB_CACHE", str(_model_cache))


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's 8x8 digits through the dataset registry."""
    from core.datasets import load_dataset
    return load_dataset("digits")


@pytest.fixture(scope="session")
def rgb32():
    """Random 3-channel 32x32 images with 4 classes (structure: class = colour)."""
    from core.datasets import dataset_from_arrays
    g = torch.Generator().manual_seed(0)
    y = torch.arange(200) % 4
    x = torch.rand(200, 3, 32, 32, generator=g) * 0.3
    for c in range(3):
        x[y == c, c] += 0.6
    return dataset_from_arrays(x.clamp(0, 1).numpy(), y.numpy(), spec="rgb32", title="random RGB 32x32")
