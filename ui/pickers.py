"""Widgets that pick images: a test-image index, and the two ends of an interpolation."""
from __future__ import annotations

from typing import Any

import numpy as np
import streamlit as st
import torch

from core.datasets import Dataset
from core.latent import random_pair

from .controls import control
from .state import Selection


def index_input(label: str, key: str, default: int, n: int, col: Any = st) -> int:
    """An image-index picker for a split of ``n`` images."""
    return int(col.number_input(label, value=min(default, n - 1), **control(key, hi=n - 1)))


def image_pair(cols: list[Any], ds: Dataset, x: torch.Tensor, labels: np.ndarray | None, run_id: str,
               selection: Selection | None) -> tuple[torch.Tensor, int, int, str]:
    """(images, index A, index B, a tag for caching) chosen by index, from the last selection, or by class.

    Stops the page with a hint when the chosen way has nothing to offer.
    """
    how = cols[0].radio("Images", **control("keep_gen_how"))
    if how == "by index":
        i0 = index_input("Image A", "keep_gen_a", 0, len(x), cols[1])
        return x, i0, index_input("Image B", "keep_gen_b", 1, len(x), cols[2]), f"{ds.spec}:test"
    if how == "last selection":
        sel = selection
        if sel is None or sel.run != run_id or sel.dataset != ds.spec or len(sel.indices) < 2:
            st.info("Select two or more points on the **Latent space** page first; the first and the last "
                    "of the selection are used.")
            st.stop()
        i0, i1 = sel.indices[0], sel.indices[-1]
        cols[1].caption(f"{sel.split} images #{i0} and #{i1} of {len(sel.indices)} selected")
        return ds.split(sel.split)[0], i0, i1, f"{ds.spec}:{sel.split}"
    if labels is None:
        st.info("This dataset has no labels: pick the images by index.")
        st.stop()
    name = ds.classes.__getitem__
    ca = cols[1].selectbox("Class A", **control("keep_gen_ca", choices=range(ds.n_classes)), format_func=name)
    cb = cols[2].selectbox("Class B", index=1 % ds.n_classes, **control("keep_gen_cb", choices=range(ds.n_classes)),
                            format_func=name)
    try:
        i0, i1 = random_pair(labels, ca, cb, int(cols[1].number_input("Pair", value=0, **control("keep_gen_pair"))))
    except ValueError as e:
        st.warning(str(e))
        st.stop()
    return x, i0, i1, f"{ds.spec}:test"
