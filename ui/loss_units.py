"""Loss curves in one unit: a VAE's terms as nats per image, so reconstruction and KL can be compared.

A VAE's training loss is per pixel (BCE per pixel + beta x KL / pixels) while
its KL part is per image: on one axis the KL dwarfs the rest. Multiplying the
per-pixel terms by the number of pixels puts every term in nats per image
(the usual negative ELBO). Other families' curves are returned unchanged.
"""
from __future__ import annotations

from collections.abc import Sequence

PER_PIXEL = ("loss", "recon")  # the parts a VAE reports per pixel


def same_units(curve: dict[str, Sequence[float]], n_pixels: int,
               declared: str = "") -> tuple[dict[str, list[float]], str]:
    """(curve, y-axis title): nats per image when the curve has a KL term, else as it was ("loss").

    A family whose loss is already in one unit declares it (ModelSpec.loss_unit;
    the VAE reports nats per image since issue 13): its curve is kept as it is.
    """
    if declared:
        return {k: list(v) for k, v in curve.items()}, declared
    if "kl" not in curve:
        return {k: list(v) for k, v in curve.items()}, "loss"
    out = {k: [x * n_pixels for x in v] if k in PER_PIXEL else list(v) for k, v in curve.items()}
    return out, "nats per image (loss = reconstruction + beta x KL)"
