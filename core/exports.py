"""Exports of encoded splits: a CSV for pandas and spreadsheets, TSVs for TensorBoard's projector.

Kept apart from the latent maths and the projections because they are pure
formatting: codes, labels, errors and a projection in, text out (the pages
offer the text as downloads, ``python -m core project`` writes it to a file).
"""
from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np

ArrayLike = Any  # np.ndarray | torch.Tensor | nested lists


def _clean_text(s: Any) -> str:
    """A value safe for one TSV cell: tabs and newlines become spaces."""
    return " ".join(str(s).split()) if any(ch in str(s) for ch in "\t\r\n") else str(s)


def export_csv(codes: ArrayLike, proj: ArrayLike | None = None, labels: ArrayLike | None = None,
               errors: ArrayLike | None = None, classes: Sequence[str] | None = None,
               index: ArrayLike | None = None) -> str:
    """CSV text, one row per image: index, label, class, error, x, y[, z], z0..z{D-1}."""
    import pandas as pd

    c = np.asarray(codes, dtype=np.float32)
    n = c.shape[0]
    cols: dict[str, Any] = {"index": np.arange(n) if index is None else np.asarray(index)}
    if labels is not None:
        y = np.asarray(labels).astype(np.int64)
        cols["label"] = y
        if classes:
            cols["class"] = [classes[v] if 0 <= v < len(classes) else str(v) for v in y]
    if errors is not None:
        cols["recon_error"] = np.asarray(errors, dtype=np.float32)
    if proj is not None:
        p = np.asarray(proj, dtype=np.float32)
        if p.shape[0] != n:
            raise ValueError(f"{n} codes but {p.shape[0]} projected points")
        for j, name in enumerate("xyz"[: p.shape[1]]):
            cols[name] = p[:, j]
    for j in range(c.shape[1]):
        cols[f"z{j}"] = c[:, j]
    for k, v in cols.items():
        if len(v) != n:
            raise ValueError(f"column {k!r} has {len(v)} rows, the codes have {n}")
    return pd.DataFrame(cols).to_csv(index=False, float_format="%.6g", lineterminator="\n")


def export_projector_tsv(codes: ArrayLike, labels: ArrayLike | None = None,
                         classes: Sequence[str] | None = None,
                         extra: dict[str, ArrayLike] | None = None) -> tuple[str, str]:
    """TensorBoard Embedding Projector files: (vectors TSV, metadata TSV).

    Vectors: one row of tab-separated numbers per image, no header. Metadata:
    one row per image; a single column (the class name) has no header row, as
    the projector expects, more columns (label, class, extra ones) get one.
    """
    c = np.asarray(codes, dtype=np.float32)
    buf = io.StringIO()
    np.savetxt(buf, c, fmt="%.6g", delimiter="\t")
    vectors = buf.getvalue()
    n = c.shape[0]
    meta: dict[str, list[str]] = {}
    if labels is not None:
        y = np.asarray(labels).astype(np.int64)
        if classes:
            meta["class"] = [_clean_text(classes[v]) if 0 <= v < len(classes) else str(v) for v in y]
        else:
            meta["label"] = [str(v) for v in y]
    for k, v in (extra or {}).items():
        meta[_clean_text(k)] = [_clean_text(s) for s in np.asarray(v).tolist()]
    if not meta:
        meta["index"] = [str(i) for i in range(n)]
    for k, v in meta.items():
        if len(v) != n:
            raise ValueError(f"metadata column {k!r} has {len(v)} rows, the codes have {n}")
    names = list(meta)
    if len(names) == 1:
        lines = meta[names[0]]
    else:
        lines = ["\t".join(names)] + ["\t".join(row) for row in zip(*(meta[k] for k in names))]
    return vectors, "\n".join(lines) + "\n"
