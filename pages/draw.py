"""Draw a digit: your own input, made MNIST-style, through the current model."""
from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from core import latent as L
from core.codes import cached_codes
from core.draw import DrawError, knn_probs, mnist_style, nearest, percentile_of, place_on_map
from ui import state
from ui.draw_view import classifier_runs, drawing, image_row, map_with_star, probs_figure
from ui.format import plain

st.title("Draw a digit")
run = state.require_run("latent")
ds = state.show_run_dataset(run)
model, spec = run.model, state.run_spec(run)
st.caption("Draw a digit (or upload a photo of one). It is prepared the way MNIST's digits were: cropped to the "
           "ink, fitted into a 20x20 box, and placed in a 28x28 square by its centre of mass. Then the model "
           "encodes it: see what it rebuilds, where it lands among the test images and which training images "
           "have the nearest codes.")
if getattr(model, "approximate_encoder", False):  # per run: a GAN with an encoder network needs no optimisation
    st.warning(f"{spec.noun.capitalize()} has no encoder: the code is found by optimisation (a few seconds).")

left, mid, right = st.columns([1, 0.9, 1.5], gap="medium")
with left:
    img, source = drawing("draw")
if img is None:
    mid.info("Draw on the black square (or upload a photo): the results appear here.")
    st.stop()
c, side = ds.shape[0], ds.shape[-1]
try:
    small = mnist_style(img, side)
except DrawError as e:
    mid.info(plain(str(e)[:1].upper() + str(e)[1:]) + ".")
    st.stop()
x = torch.from_numpy(small)[None, None].repeat(1, c, 1, 1)  # (1, C, H, W)
z = L.encode(model, x).cpu()
rec = L.decode(model, z)
err = float(torch.nn.functional.binary_cross_entropy(rec.clamp(1e-6, 1 - 1e-6), x))
x_test, y_test = ds.split("test")
with st.spinner("Encoding the test and training images (once per run)..."):
    codes, errors, _ = cached_codes(run.path, model, x_test, "test")
    train_codes = cached_codes(run.path, model, ds.x_train, "train")[0]
pct = percentile_of(err, errors)

with mid:
    image_row([x[0], rec[0]], ["what the model sees (MNIST-style)", "its reconstruction"], px=112)
    st.metric("Reconstruction error", f"{err:.3f}", help="Binary cross-entropy per pixel. As an anomaly score: "
              "the higher, the less the input looks like the training images.")
    st.caption(f"Higher than {pct:.0f}% of the test images' errors" + (
        ": unusual for this model (is it a digit? big and centred?)" if pct > 95 else "."))
with right:
    layout, star, how = place_on_map(codes, z[0].numpy())
    ys = y_test.numpy() if y_test is not None else None
    st.plotly_chart(map_with_star(layout, star, ys, ds.classes, how), key="draw_map", width="stretch",
                    config={"displayModeBar": False})

st.subheader("The training images with the nearest codes")
idx, dist = nearest(train_codes, z[0].numpy(), 8)
labels = ds.y_train.numpy() if ds.y_train is not None else None
image_row(ds.x_train[torch.as_tensor(idx)], [(f"{ds.classes[labels[i]]} · " if labels is not None else "")
                                             + f"distance {d:.2f}" for i, d in zip(idx, dist)])

if labels is not None:
    st.subheader("What it looks like to a classifier")
    clfs = classifier_runs(ds.shape)
    choice = st.selectbox("Classifier", ["knn"] + [m["id"] for m in clfs], key="draw_clf", format_func=lambda i:
                          "the 25 nearest training codes vote (k-NN on this model's codes)" if i == "knn" else
                          f"saved classifier {i}")
    if choice == "knn":
        probs, title = knn_probs(train_codes, labels, z[0].numpy(), ds.n_classes), "k-NN vote in code space"
    else:
        clf = state.run_at(next(m["path"] for m in clfs if m["id"] == choice))
        with torch.no_grad():
            probs = torch.softmax(clf.model.eval().logits(x), 1)[0].numpy() if clf else np.zeros(ds.n_classes)
        title = f"{state.run_spec(clf).title if clf else '?'}: softmax probabilities"
    st.plotly_chart(probs_figure(probs, ds.classes, title), key="draw_probs", width="stretch",
                    config={"displayModeBar": False})
