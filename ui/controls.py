"""What each view control accepts, declared once: its widget draws its range or options from here, and a value
that came from a link (or outlived the data it was chosen for) is checked against the same declaration and
dropped before the widget sees it, so it cannot raise in the page (issue 22).

A page draws a view control as ``st.slider("Steps", value=8, **control("keep_gen_steps"))``: ``control``
returns the widget's bounds or options and its key. Bounds that depend on the data (an image index, the
classes, the saved runs) are left open here and passed by the page, e.g. ``control("keep_gen_a", hi=n - 1)``;
``links.restore`` then checks only what is known without the data (the type, the fixed end).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import streamlit as st

NO = object()  # what ``fit`` gives for a value the widget cannot take
LINKED = "_link_keys"  # session keys a link set whose data-dependent bounds the page has not checked yet


@dataclass(frozen=True)
class Flag:
    """A toggle or checkbox: True or False (not 1, not "true")."""
    key: str

    def fit(self, v: Any) -> Any:
        """``v`` if the widget can take it, else NO."""
        return v if isinstance(v, bool) else NO

    def kwargs(self) -> dict[str, Any]:
        """The widget's arguments drawn from here."""
        return {"key": self.key}


@dataclass(frozen=True)
class Number:
    """A slider or number input from ``lo`` to ``hi`` (None: the page passes it); int bounds take ints only."""
    key: str
    lo: int | float
    hi: int | float | None
    step: int | float | None = None

    @property
    def is_int(self) -> bool:
        """Whether the widget works in ints (then it takes no floats)."""
        return all(isinstance(b, int) for b in (self.lo, self.hi, self.step) if b is not None)

    def fit(self, v: Any) -> Any:
        """``v`` (a float for a float widget) if the widget can take it, else NO."""
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (self.is_int and not isinstance(v, int)):
            return NO  # bool is an int to Python, not to a slider; 3.5 is not an index
        v = v if self.is_int else float(v)  # "span=3" means 3.0 to a float slider
        if not math.isfinite(v) or v < self.lo or (self.hi is not None and v > self.hi):
            return NO
        if self.step and not self.is_int and abs((v - self.lo) / self.step - round((v - self.lo) / self.step)) > 1e-6:
            return NO  # off the slider's grid: not a value it can show
        return v

    def kwargs(self) -> dict[str, Any]:
        """The widget's arguments drawn from here."""
        step = {} if self.step is None else {"step": self.step}
        return {"min_value": self.lo, "max_value": self.hi, **step, "key": self.key}


@dataclass(frozen=True)
class One:
    """A radio, select box, select slider or segmented control: one of ``choices`` (None: the page passes
    them, and until then any value of type ``of``); ``none`` when the control may be left unset."""
    key: str
    choices: tuple | None
    of: type | None = None
    none: bool = False

    def __post_init__(self) -> None:
        if self.choices is not None:
            object.__setattr__(self, "choices", tuple(self.choices))

    def fit(self, v: Any) -> Any:
        """The choice ``v`` names, else NO."""
        if v is None and self.none:
            return v
        if self.choices is None:
            return v if type(v) is self.of else NO
        # Same type as well as equal: True == 1 and 2.0 == 2 to Python, not to the widget.
        return next((c for c in self.choices if type(c) is type(v) and c == v), NO)

    def kwargs(self) -> dict[str, Any]:
        """The widget's arguments drawn from here."""
        return {"options": self.choices, "key": self.key}


@dataclass(frozen=True)
class Many:
    """A multiselect: distinct items of ``choices`` (None: the page passes them), at most ``most`` of them."""
    key: str
    choices: tuple | None
    of: type
    most: int | None = None

    def __post_init__(self) -> None:
        if self.choices is not None:
            object.__setattr__(self, "choices", tuple(self.choices))

    def fit(self, v: Any) -> Any:
        """``v`` if it is a list the widget can take, else NO."""
        one = One(self.key, self.choices, self.of)
        if not isinstance(v, list) or (self.most is not None and len(v) > self.most):
            return NO
        items = [one.fit(i) for i in v]
        return items if NO not in items and len(set(items)) == len(items) else NO

    def kwargs(self) -> dict[str, Any]:
        """The widget's arguments drawn from here."""
        return {"options": self.choices, "max_selections": self.most, "key": self.key}


Accepts = Flag | Number | One | Many
TEST_TRAIN = ("test", "train")
METHODS = ("pca", "umap", "tsne")
GEN_TOOLS = ("Interpolate", "Sample", "Manifold", "Traverse", "Arithmetic")

# Every view control, by the page (url path) that draws it. Link keys are these without "keep_".
VIEW: dict[str, tuple[Accepts, ...]] = {
    "generate": (
        One("keep_gen_tool", GEN_TOOLS, none=True),  # clicking the chosen tool again deselects it
        One("keep_gen_how", ("by index", "last selection", "random pair of classes")),
        Number("keep_gen_a", 0, None), Number("keep_gen_b", 0, None),  # up to the split's size
        One("keep_gen_ca", None, int), One("keep_gen_cb", None, int),  # the dataset's classes
        Number("keep_gen_pair", 0, 9999),
        One("keep_gen_method", ("slerp", "lerp")), Number("keep_gen_steps", 3, 16),
        Number("keep_gen_temp", 0.0, 2.0, 0.05), One("keep_gen_n", (16, 36, 64)),
        Number("keep_gen_seed", 0, 1_000_000),
        One("keep_gen_axes", ("principal directions", "two latent dimensions")),
        Number("keep_gen_di", 0, None), Number("keep_gen_dj", 0, None),  # the run's latent dimensions
        Number("keep_gen_grid", 5, 25), Number("keep_gen_span", 0.5, 4.0, 0.25),
        Number("keep_gen_base", 0, None), One("keep_gen_which", ("largest variance", "first")),
        Number("keep_gen_k", 1, 12),  # at most the latent size
        Number("keep_gen_ar", 0, None),
    ),
    "latent_space": (
        One("keep_ls_split", TEST_TRAIN), One("keep_ls_method", METHODS),
        One("keep_ls_dim", (2, 3)),  # PCA of a 2-D latent: 2 only
        One("keep_ls_color", ("label", "error")), Number("keep_ls_seed", 0, 10_000),
        Number("keep_ls_nn", 2, 100), Number("keep_ls_md", 0.0, 0.99, 0.01),
        Number("keep_ls_perp", 5.0, 50.0, 1.0), Flag("keep_ls_beside"),
    ),
    "reconstructions": (
        One("keep_rec_split", TEST_TRAIN), One("keep_rec_n", (8, 16, 24, 32)),
        One("keep_rec_how", ("random", "per class")), Number("keep_rec_seed", 0, 10_000),
        Number("keep_rec_noise", 0.0, 0.8, 0.05), One("keep_rec_per_row", (8, 6, 4)),
        One("keep_rec_worst", (8, 16, 24)),
    ),
    "compare": (
        Flag("keep_cmp_sweep"), One("keep_cmp_lpc", (1, 5, 10, 50, 100, "all")),
        One("keep_cmp_steps", (20, 50, 100, 200, 500, 1000, 2000, 4000)), Number("keep_cmp_seeds", 1, 5),
        One("keep_cmp_variant", ("joint", "pretrain")), Number("keep_cmp_lam", 0.0, 5.0, 0.1),
        Number("keep_cmp_entropy", 0.0, 3.0, 0.1), Number("keep_cmp_pseudo", 0.0, 3.0, 0.1),
    ),
    "side_by_side": (
        Many("sbs_runs", None, str, most=4),  # the saved runs
        One("sbs_px", (56, 84, 112, 140)), One("sbs_method", METHODS),
    ),
    "anomaly": (
        Flag("keep_an_bench"), Many("keep_an_normal", None, int),  # the dataset's classes
        One("keep_an_eval", None, str), One("keep_an_model", None, str),  # datasets of its size; families
        Number("keep_an_epochs", 1, 100), Number("keep_an_seed", 0, 10_000),
    ),
    "train": (One("keep_train_px", (28, 56, 84)),),
}
ACCEPTS: dict[str, Accepts] = {a.key: a for page in VIEW.values() for a in page}


def accepts(key: str, **now: Any) -> Accepts:
    """What ``key``'s widget takes, with the bounds the page knows now (None keeps the declared one)."""
    now = {k: v for k, v in now.items() if v is not None}
    return replace(ACCEPTS[key], **now) if now else ACCEPTS[key]


def note(names: list[str]) -> str:
    """The short note for link values left out (names as the link spells them)."""
    if len(names) == 1:
        return f"The link's value for {names[0]} did not fit and was left out."
    return f"The link's values for {', '.join(names)} did not fit and were left out."


def link_name(key: str) -> str:
    """The name a link gives the control ``key``."""
    return key.removeprefix("keep_")


def control(key: str, **now: Any) -> dict[str, Any]:
    """The widget arguments of view control ``key`` (bounds or options, and the key), after dropping a value
    in the session that the widget cannot take (a link's, or one chosen for other data)."""
    acc = accepts(key, **now)
    ss = st.session_state
    if key in ss and acc.fit(ss[key]) is NO:
        del ss[key]  # the widget starts from its default
        if key in ss.get(LINKED, ()):
            st.toast(note([link_name(key)]), icon=":material/link_off:", duration="long")
    if key in ss.get(LINKED, ()):
        ss[LINKED].discard(key)  # checked against the page's data once; later drops are not the link's
    return acc.kwargs()
