"""Generate: interpolate between images, sample the prior, map and walk the latent space, do arithmetic."""
from __future__ import annotations

import os

import streamlit as st
import torch

from core import latent as L
from core.codes import cached_codes
from core.device import torch_threads
from ui import state
from ui.format import plain
from ui.controls import control
from ui.images import grid_image, upscale_for
from ui.pickers import image_pair, index_input

st.title("Generate")
run = state.require_run("latent")
ds = state.show_run_dataset(run)
tab, model = state.tab(), run.model
x, y = ds.split("test")
if getattr(model, "approximate_encoder", False):  # codes by optimisation per batch: statistics from a sample
    x, y = x[:500], (y[:500] if y is not None else None)
labels = y.numpy() if y is not None else None
with st.spinner("Encoding the test images..."):
    codes = cached_codes(run.path, model, x, "test")[0]
scale, d = upscale_for(x.shape[-1]), model.latent_dim

@st.cache_data(max_entries=32, show_spinner="Encoding the two images...")
def _strip(run_id: str, pair: str, method: str, steps: int, _model, _x0, _x1) -> torch.Tensor:
    """The decoded path, cached: a GAN's encoder is an optimisation (~1 s), the scrub slider reruns often."""
    return L.interpolate(_model, _x0, _x1, steps, method)


# A slider move reruns only this block, not app.py and the encoding above (issue 12);
# LATENT_LAB_GEN_FRAGMENT=0 turns it off, for bench/browser.py's same-run baseline.
@(st.fragment if os.environ.get("LATENT_LAB_GEN_FRAGMENT", "1") != "0" else (lambda f: f))
def tools() -> None:
    """The chosen tool and its controls."""
    tool = st.segmented_control("Tool", default="Interpolate", **control("keep_gen_tool"),
                                label_visibility="collapsed"
                                ) or "Interpolate"  # clicking the chosen tool again deselects it
    with torch_threads(1):  # tiny decodes: 1 thread stays fast while a training keeps the cores busy
        if tool == "Interpolate":
            c = st.columns([1.6, 1, 1, 1])
            xs, i0, i1, tag = image_pair(c, ds, x, labels, run.id, tab.selection)
            method = c[3].radio("Path", **control("keep_gen_method"), help="slerp follows the sphere "
                                "(keeps the code's length, where a Gaussian prior puts its mass); lerp a straight line")
            steps = c[3].slider("Steps", value=8, **control("keep_gen_steps"))
            strip = _strip(run.id, f"{tag}:{i0}:{i1}", method, steps, model, xs[i0], xs[i1])
            st.image(grid_image(torch.cat([xs[i0][None], strip, xs[i1][None]]), nrow=steps + 2, scale=scale, kind=ds.kind),
                     width="stretch", caption="image A · the decoded path from A's code to B's · image B")
            t = st.slider("Scrub along the path (step)", 1, steps, 1, key="gen_scrub")  # counts as the caption does
            st.image(grid_image(strip[t - 1:t], nrow=1, scale=4 * scale, kind=ds.kind), caption=f"step {t} of {steps}")

        elif tool == "Sample":
            c = st.columns(3)
            temp = c[0].slider("Temperature", value=1.0, **control("keep_gen_temp"),
                               help="Scales the noise: low gives typical images, high gives varied (and stranger) ones")
            n = c[1].select_slider("Images", value=36, **control("keep_gen_n"))
            seed = int(c[2].number_input("Seed", value=0, **control("keep_gen_seed")))
            st.image(grid_image(L.sample(model, n, temp, seed), nrow=int(n ** 0.5), scale=scale, kind=ds.kind), width="stretch",
                     caption=f"Decoded from random codes drawn from the {L.prior_label(model)}"
                     + (" (an AE has no prior of its own)" if "fitted" in L.prior_label(model) else "") + ".")

        elif tool == "Manifold":
            c = st.columns(4)
            axes = c[0].radio("Axes", **control("keep_gen_axes"),
                              disabled=d == 2)
            dims = None
            if axes == "two latent dimensions" or d == 2:
                top = L.top_variance_dims(codes, 2)
                dims = (int(c[1].number_input("Across: dim", value=int(top[0]), **control("keep_gen_di", hi=d - 1))),
                        int(c[2].number_input("Down: dim", value=int(top[-1]) if d > 1 else 0,
                                              **control("keep_gen_dj", hi=d - 1))))
            n = c[3].slider("Grid size", value=15, **control("keep_gen_grid"))
            span = c[3].slider("Span (standard deviations)", value=2.0, **control("keep_gen_span"))
            try:
                st.image(grid_image(L.manifold_grid(model, codes, dims, n, span), nrow=n, padding=0, scale=scale, kind=ds.kind),
                         width=600, caption=("The two latent dimensions" if dims else "The codes' two main "
                         "directions") + f" from -{span} to +{span} standard deviations; every other dimension at its "
                         "mean." + (" With a 2-D latent this is the whole latent map." if d == 2 else ""))
            except ValueError as e:
                st.warning(str(e))

        elif tool == "Traverse":
            c = st.columns([1, 1.4, 1])
            base_i = index_input("Start from image", "keep_gen_base", 0, len(x), c[0])
            which = c[1].radio("Dimensions", horizontal=True, **control("keep_gen_which"))
            k = c[2].slider("How many", value=min(6, d), **control("keep_gen_k", hi=min(12, d))) if d > 1 else 1
            dims = L.top_variance_dims(codes, k) if which == "largest variance" else range(k)
            mean, std = L.dim_stats(codes)
            base = codes[base_i]
            left, right = st.columns([2, 1], gap="large")
            values = {}
            for j, dm in enumerate(dims):
                spread = 3 * (float(std[dm]) or 1.0)  # a dead dimension (std 0) still gets a usable slider
                lo, hi = float(mean[dm]) - spread, float(mean[dm]) + spread
                values[int(dm)] = left.slider(f"z{dm}", lo, hi, min(max(float(base[dm]), lo), hi),
                                              key=f"gen_tr_{run.id}_{base_i}_{dm}")
            right.image(grid_image(torch.stack([x[base_i], L.traverse(model, base, values)]), nrow=2, scale=3 * scale, kind=ds.kind),
                        caption="the image · decoded with the sliders' values", width="stretch")
            right.caption("Each slider sets one latent number (mean ± 3 standard deviations); the others keep "
                          "the image's own code.")

        elif tool == "Arithmetic":
            if labels is None:
                st.info("Latent arithmetic needs class labels; this dataset has none.")
                st.stop()
            means = L.class_means(codes, labels, ds.n_classes)
            i = index_input("Image", "keep_gen_ar", 0, len(x), st.columns([1, 3])[0])
            a = int(labels[i])
            z = L.encode(model, x[i])[0].cpu()  # once: a GAN's encode is an optimisation
            outs = L.decode(model, torch.stack([L.arithmetic_code(z, a, b, means) for b in range(ds.n_classes)]))
            st.image(grid_image(torch.cat([x[i][None], outs]), nrow=ds.n_classes + 1, scale=scale, kind=ds.kind), width="stretch",
                     caption=f"the image (class {plain(ds.classes[a])}), then code - mean({plain(ds.classes[a])}) + mean(B) for "
                     f"every class B: {', '.join(ds.classes)}. The style of the image, the class of B.")


tools()
