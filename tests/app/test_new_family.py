"""Adding a latent model family = one file (model + config) + one registry entry; every page then works.

This file plays both parts: ``TinyAE``/``TinyConfig`` are the family's file, the
``register(ModelSpec(...))`` in the fixture is its registry entry. Nothing else
in the app is told about it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from math import prod

import pytest
import torch
from torch import nn

from core.cli import main
from core.models import ModelSpec, knob, register, unregister
from core.models.autoencoders import latent_knob
from core.models.base import LatentModel, Shape, recon_bce
from tests.app.conftest import open_page


@dataclass
class TinyConfig:
    """A one-hidden-layer autoencoder."""

    latent_dim: int = latent_knob(4)
    width: int = knob(16, "Hidden width", "Units of the one hidden layer.", lo=1, hi=256, options=(8, 16, 32))


class TinyAE(LatentModel):
    """Flatten -> width -> code -> width -> image."""

    def __init__(self, config: TinyConfig, shape: Shape, n_classes: int = 0):
        super().__init__(config, shape, n_classes)
        n = prod(shape)
        self.enc = nn.Sequential(nn.Flatten(), nn.Linear(n, config.width), nn.ReLU(),
                                 nn.Linear(config.width, config.latent_dim))
        self.dec = nn.Sequential(nn.Linear(config.latent_dim, config.width), nn.ReLU(), nn.Linear(config.width, n))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.enc(x)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.dec(z).view(-1, *self.shape)

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        rec = recon_bce(self.decode_logits(self.encode(x)), x)
        return {"loss": rec, "recon": rec}


@pytest.fixture
def tiny_family(monkeypatch):
    # A family registered at run time exists only in this process; jobs run in threads here so they see it.
    # (A real family is registered when core.models is imported, so worker processes have it too.)
    monkeypatch.setenv("LATENT_LAB_JOBS", "thread")
    register(ModelSpec("tiny", "Tiny test autoencoder", TinyAE, TinyConfig,
                       "A one-layer autoencoder that exists only in this test.", r"\mathcal{L} = \mathrm{BCE}",
                       train_defaults={"epochs": 2, "batch_size": 64, "lr": 5e-3}))
    yield
    unregister("tiny")


def _ok(at):
    assert not at.exception, [e.value for e in at.exception]


def test_a_new_family_trains_from_the_form_and_works_on_every_page(tiny_family):
    at = open_page("pages/train.py")
    at.selectbox(key="form_model").set_value("tiny").run()
    _ok(at)
    assert at.select_slider(key="form_tiny_width").label == "Hidden width"  # drawn from its metadata
    assert at.number_input(key="form_tiny_epochs").value == 2  # its own training defaults
    at.select_slider(key="form_tiny_width").set_value(32).run()
    at.button(key="train_start").click().run()
    from tests.app.conftest import poll
    poll(at, lambda a: any("Done in" in s.value for s in a.success), timeout=120)
    assert "How a tiny test autoencoder learns" == at.expander[0].label
    for page in ("pages/reconstructions.py", "pages/latent_space.py", "pages/generate.py", "pages/runs.py"):
        at.switch_page(page).run()
        _ok(at)
        assert not at.warning or all("needs" not in w.value for w in at.warning), page
    at.switch_page("pages/generate.py").run()
    for tool in ("Sample", "Manifold", "Traverse", "Arithmetic"):
        at.segmented_control(key="keep_gen_tool").set_value(tool).run()
        _ok(at)
        assert at.image, tool


def test_a_new_family_on_the_command_line(tiny_family, capsys, tmp_path):
    assert main(["train", "--model", "tiny", "--dataset", "digits", "--set", "width=8",
                 "--out", str(tmp_path / "tiny-run")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == "tiny" and out["recon_bce"] > 0
    assert main(["eval", "--run", str(tmp_path / "tiny-run")]) == 0
