"""What the Hybrid vs CNN page shows: the method in words, and one comparison's results.

The prose lives here (not in core) so the experiment code stays free of page
text; ``show_result`` draws a finished or reloaded comparison.
"""
from __future__ import annotations

import streamlit as st

from core.compare import ROLES, ComparisonResult, eval_split
from core.datasets import DatasetError

from . import state
from .figures import ROLE_TITLES, confusion_figure, curves_figure
from .format import fmt_seconds, mean_pm, plain
from .images import grid_image, upscale_for

METHOD_TEXT = (
    "Both models share one CNN: a conv front end and a conv back end ending in a pooled code "
    "and a linear classifier. The plain CNN learns from the labeled images only. The hybrid "
    "also decodes its code back into the image, so every image, labeled or not, shapes its "
    "layers through the reconstruction loss (CE + lambda x reconstruction). Two more terms use "
    "the unlabeled images: entropy (eta > 0) pushes towards confident predictions spread over "
    "all classes, and pseudo-labels (FixMatch) treat an unlabeled image as labeled when the "
    "model is at least 95% sure of it under another random shift/rotation. Both start near 0 and "
    "ramp up over the first 20% of the steps, so early wrong guesses are not locked in. "
    "With few labels the CNN has little to learn from and overfits; the unlabeled images are "
    "extra signal only the hybrid gets, so the gap is largest at 1-10 labels per class and "
    "closes as labels become plentiful. "
    "Honest caveat, measured on MNIST-5k with 10 labels per class (bench/hybrid.py, 3 seeds, "
    "2,000 steps): the plain CNN reaches 90.3%, the hybrid 95.5%; without pseudo-labels 94.7%, "
    "and without the reconstruction term (lambda = 0) still 95.7%. The gain comes from the "
    "unlabeled-image terms, not from reconstruction: set lambda, eta or the pseudo-label weight "
    "to 0 to see each part on your data.")
FAIRNESS_TEXT = (
    "Same for both: architecture and initial weights of the shared layers, optimiser (Adam, "
    "cosine learning-rate decay), number of optimiser steps, the batches drawn, the labeled "
    "images and their augmentation (random shifts and rotations). Different: the hybrid has "
    "a decoder and uses the unlabeled images in each batch, which the plain CNN skips (so a "
    "hybrid step costs more time); in the 'pretrain' variant the hybrid spends its first "
    "steps on reconstruction alone, with labels hidden.")


def saved_label(c: dict) -> str:
    """One line for a saved comparison (core.compare.list_comparisons): settings and each role's accuracy."""
    scores = " vs ".join(f"{ROLE_TITLES[r]} {c[r]:.1%}" for r in ROLES)
    return (f"{c['dataset']}, {c['labels_per_class']}/class, {c['variant']}: {scores} "
            f"({c['created'][:16].replace('T', ' ')})")


def show_result(r: ComparisonResult) -> None:
    """Accuracy mean +- std, curves, confusion matrices and disagreement examples of one comparison."""
    m = r.models
    if not r.seeds_done:
        st.warning("No seed was completed, so there is nothing to show.")
        return
    c = st.columns(3)
    for col, role in zip(c, ROLES):
        col.metric(ROLE_TITLES[role], mean_pm(m[role].mean, m[role].std, len(r.seeds_done)),
                   help=f"mean ± std of the test accuracy over {len(r.seeds_done)} seed(s)")
    c[2].metric("hybrid − CNN", f"{m['hybrid'].mean - m['cnn'].mean:+.1%}",
                help="seconds per seed: " + ", ".join(f"{ROLE_TITLES[k]} {fmt_seconds(sum(v.seconds) / len(v.seconds))}"
                                                      for k, v in m.items()))
    lpc = r.config.labels_per_class or "all"
    st.caption(f"{plain(r.config.dataset)}, {lpc} labels per class, {r.config.steps} steps, {plain(r.config.variant)}, "
               f"λ={r.config.lam:g}, η={r.config.entropy:g}, pseudo-labels {r.config.pseudo:g}"
               + (f" (ramped up over {r.config.ramp:.0%} of the steps)" if r.config.ramp else "")
               + f"; scored on {plain(r.eval_spec)}. {plain(r.message, 600)}")
    st.plotly_chart(curves_figure({k: v.curves for k, v in m.items()}), width="stretch", key="cmp_curves")
    si = st.selectbox("Seed", range(len(r.seeds_done)), format_func=lambda i: f"seed {r.seeds_done[i]}",
                      key="cmp_seed") if len(r.seeds_done) > 1 else 0
    for col, role in zip(st.columns(2), ROLES):
        col.plotly_chart(confusion_figure(m[role].confusion[si], r.classes,
                                            f"{ROLE_TITLES[role]}: {m[role].accuracy[si]:.1%}"),
                         width="stretch", key=f"cmp_cm_{role}")
    try:
        x, _, _ = eval_split(state.dataset(r.config.dataset), r.config.eval_dataset)
    except DatasetError as e:
        st.info(plain(f"Example images unavailable: {e}", 600))
        return
    d = r.disagreements(si)
    c = st.columns(2)
    for col, (key, title) in zip(c, [("hybrid_right_cnn_wrong", "Hybrid right, CNN wrong"),
                                     ("cnn_right_hybrid_wrong", "CNN right, hybrid wrong")]):
        idx = d[key][:24]
        col.markdown(f"**{title}**: {len(d[key])} image(s)")
        if idx:
            col.image(grid_image(x[idx], nrow=8, scale=upscale_for(x.shape[-1])), width="stretch",
                      caption=plain("CNN said: " + " ".join(r.classes[m["cnn"].predictions[si][i]] for i in idx) +
                                    " · hybrid said: " + " ".join(r.classes[m["hybrid"].predictions[si][i]] for i in idx),
                                    2000))  # an image's caption is Markdown too: class names as text
