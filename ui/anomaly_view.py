"""What the Anomaly detection page shows: the method in words, one detector's results, a benchmark's table.

The prose lives here (not in core) so the experiment code stays free of page
text. ``show_result`` draws one trained detector (score picker, ROC, score
histograms, a threshold with its precision, recall and confusion counts, the
most and least anomalous images); ``show_benchmark`` the one-class benchmark.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
import torch

from core.anomaly import (DEEP_SVDD_MNIST_MEAN, NORMAL_UNLABELED, SCORES, SUSPECT, AnomalyResult,
                          BenchmarkResult, at_threshold, roc)

from .figures import benchmark_figure, roc_figure, score_histogram
from .format import plain
from .images import grid_image, upscale_for

METHOD_TEXT = (
    "An autoencoder learns to squeeze images into a small code and rebuild them. Trained on **normal** "
    "images only, it rebuilds those well and anything unlike them worse, so the reconstruction error is an "
    "anomaly score: the higher, the more suspicious. No anomalous image is needed for training; they are "
    "used only to measure how well the score separates the two groups. The **ROC curve** shows every "
    "threshold at once: how many anomalies are caught (up) against how many normal images are wrongly "
    "flagged (right); its area (**AUC**) is the chance that a random anomaly scores higher than a random "
    "normal image (1.0 perfect, 0.5 guessing).")
SCORE_TEXT = (
    "**Which error?** *mse* is the squared difference per pixel. *smooth* first blurs both images a little, "
    "so a stroke drawn one pixel to the side, ordinary handwriting variation, costs almost nothing while a "
    "different shape still does. *relative* divides that by the ink in the image and its reconstruction: a "
    "thick 8 has more stroke to get slightly wrong than a thin 1, so per unit of ink their errors compare; "
    "it is the best score here. *bce* (what the Train page reports) is largest at grey pixels, so it mostly "
    "counts stroke edges: thin digits such as 1s look normal to it. *latent* ignores the picture and asks how "
    "far the code lies from the normal images' codes. A VAE also gives the *negative ELBO*, its bound on how "
    "improbable the image is.")


def score_label(name: str, auc: float | None = None) -> str:
    """'smooth: squared error after a slight blur (AUC 0.981)'."""
    return f"{name}: {SCORES[name]}" + (f" (AUC {auc:.3f})" if auc is not None else "")


def _fmt(values: np.ndarray) -> str:
    """A printf format that shows a score range with about four significant digits."""
    top = float(np.max(np.abs(values))) or 1.0
    return "%.1f" if top >= 100 else "%.3f" if top >= 1 else "%.5f"


def _names(r: AnomalyResult, idx: list[int]) -> list[str]:
    """What each scored image is: its class, 'suspect', or 'normal' for an unlabeled normal set."""
    out = []
    for i in idx:
        c = int(r.labels[i])
        out.append("suspect" if c == SUSPECT else "normal" if c == NORMAL_UNLABELED else r.classes[c])
    return out


def show_result(r: AnomalyResult, key: str = "an") -> None:
    """One detector: AUC per score, ROC and histograms at a threshold, most and least anomalous images."""
    names = list(r.aucs)
    score = st.selectbox("Anomaly score", names, index=names.index(r.config.score), key=f"{key}_score",
                         format_func=lambda n: score_label(n, r.aucs[n]), help=SCORE_TEXT)
    y = r.is_anomaly
    c = st.columns(4)
    c[0].metric("ROC AUC", f"{r.aucs[score]:.3f}", help="1.0: every anomaly scores above every normal image")
    c[1].metric("Normal", f"{int((~y).sum()):,}", help="normal images scored (none of them seen in training)")
    c[2].metric("Anomalous", f"{int(y.sum()):,}", help="anomalous images scored")
    c[3].metric("Trained on", f"{r.n_train:,} normal", help=f"{r.seconds:.1f} s of training")
    note = "" if r.status == "finished" else f" {plain(r.message[:1].upper() + r.message[1:], 600)}."
    st.caption(f"Normal: {plain(', '.join(r.normal_names))} · scored on {plain(r.eval_spec)} · {r.config.model}, "
               f"{r.config.epochs} epochs, seed {r.config.seed}.{note}")
    _threshold_view(r, score, key)
    ex = r.examples.get(score)
    if ex is None:
        st.caption("Example images are kept for the headline score only.")
        return
    for part, title in (("most", "Most anomalous (highest scores first)"), ("least", "Least anomalous")):
        e = ex[part]
        n = len(e["index"])
        st.markdown(f"**{title}**: each image above what the model rebuilt, with its class and score")
        scale = upscale_for(e["images"].shape[-1])
        pairs = [grid_image(torch.as_tensor(np.stack([e["images"][i], e["recons"][i]])), nrow=1, scale=scale,
                            kind=r.kind) for i in range(n)]
        st.image(pairs, width=56, caption=[plain(f"{c} · {v:.3g}") for c, v in zip(_names(r, e["index"][:n]),
                                                                                   e["score"])])


def _threshold_view(r: AnomalyResult, score: str, key: str) -> None:
    """The threshold slider and what it gives: counts, precision, recall, the ROC point, the histograms."""
    s, y = r.scores[score], r.is_anomaly

    @st.fragment
    def block() -> None:
        lo, hi = float(s.min()), float(s.max())
        start = float(np.clip(r.default_threshold(score), lo, hi))
        t = st.slider("Threshold: images scoring at least this are flagged", lo, hi, start,
                      (hi - lo) / 500 or 1.0, format=_fmt(s), key=f"{key}_thr_{score}_{id(r)}",
                      help="It starts where 5% of the normal images scored are flagged.")
        m = at_threshold(y, s, t)
        c = st.columns(4)
        c[0].metric("Precision", f"{m['precision']:.1%}", help="of the flagged images, the anomalous share")
        c[1].metric("Recall", f"{m['recall']:.1%}", help="of the anomalous images, the flagged share")
        c[2].metric("Flagged", f"{m['flagged']:,}")
        c[3].metric("False alarms", f"{m['fpr']:.1%}", help="of the normal images, the flagged share")
        st.dataframe(pd.DataFrame({"flagged": [m["tp"], m["fp"]], "passed": [m["fn"], m["tn"]]},
                                  index=["anomalous", "normal"]), key=f"{key}_confusion")
        fpr, tpr, _ = roc(y, s)
        left, right = st.columns(2)
        left.plotly_chart(roc_figure(fpr, tpr, r.aucs[score], (m["fpr"], m["recall"])), width="stretch",
                          key=f"{key}_roc")
        right.plotly_chart(score_histogram(s[~y], s[y], t, xtitle=f"{score} score"), width="stretch",
                           key=f"{key}_hist")

    block()


def show_benchmark(b: BenchmarkResult, key: str = "anb") -> None:
    """The one-class benchmark: AUC per normal class and the mean, beside Deep SVDD's, and each class's detail."""
    if not b.results:
        st.warning("No class was completed, so there is nothing to show.")
        return
    names = list(b.results[0].aucs)
    score = st.selectbox("Anomaly score", names, index=names.index(b.config.score), key=f"{key}_score",
                         format_func=lambda n: score_label(n, b.mean_by_score()[n]), help=SCORE_TEXT)
    rows = b.rows()
    mean = float(np.mean([r[score] for r in rows]))
    c = st.columns(3)
    c[0].metric("Mean ROC AUC", f"{mean:.3f}", help=f"over {len(rows)} class(es)")
    if any(r["deep_svdd"] is not None for r in rows):
        c[1].metric("Deep SVDD (published)", f"{DEEP_SVDD_MNIST_MEAN:.3f}", f"{mean - DEEP_SVDD_MNIST_MEAN:+.3f}",
                    help="Ruff et al. 2018, one-class Deep SVDD on full MNIST")
    c[2].metric("Training per class", f"{np.median([r['seconds'] for r in rows]):.1f} s", help="median")
    st.plotly_chart(benchmark_figure(rows, score), width="stretch", key=f"{key}_fig")
    table = pd.DataFrame([{"normal class": r["class"], **{n: r[n] for n in names},
                           "Deep SVDD": r["deep_svdd"], "seconds": r["seconds"]} for r in rows])
    st.dataframe(table, hide_index=True, key=f"{key}_table",
                 column_config={n: st.column_config.NumberColumn(format="%.3f") for n in [*names, "Deep SVDD"]}
                 | {"seconds": st.column_config.NumberColumn(format="%.1f")})
    st.caption("The protocol of Ruff et al. (2018): each class in turn is normal, the model trains on its "
               "training images only, and every test image is scored. Deep SVDD's numbers come from full "
               "MNIST (about 6,000 training images per class, 10,000 test images); MNIST-5k has about 400 and "
               "1,000, so they are a guide, not a like-for-like comparison.")
    i = st.selectbox("Details of", range(len(rows)), key=f"{key}_detail",
                     format_func=lambda k: f"normal class {rows[k]['class']}")
    show_result(b.results[i], key=f"{key}_r")
