"""The Train form, drawn from the registry: a family picker, its knobs, and the training settings.

Nothing here names a family: each knob's widget comes from its ``Knob``
metadata (choices -> radio, options -> select slider, step -> slider, else a
number box). The values live in the tab's ``TrainForm``, so a reloaded tab, a
preset or a running job shows what will really be trained.
"""
from __future__ import annotations

from typing import Any

import streamlit as st

from core.device import usable_cores
from core.engine import FORM_BATCH_SIZES, FORM_EPOCHS, FORM_LEARNING_RATES, FORM_SEEDS
from core.models import MODELS, Knob, ModelSpec
from core.pipeline import default_train_config

from .state import TabState

BATCH_SIZES = list(FORM_BATCH_SIZES)  # core.engine holds the form's limits: Train again and Resume apply them too
LEARNING_RATES = list(FORM_LEARNING_RATES)


def _nearest(options: list[Any], value: Any) -> Any:
    """``value`` if offered, else the closest option (a preset may ask for an odd value)."""
    if value in options:
        return value
    return min(options, key=lambda o: abs(float(o) - float(value)))


def _widget(name: str, k: Knob, key: str, disabled: bool) -> Any:
    """One knob's widget; its value is already in session_state under ``key``."""
    common = {"key": key, "disabled": disabled, "help": k.help or None}
    if k.choices is not None:
        return st.radio(k.label, list(k.choices), horizontal=True, **common)
    if k.options is not None:
        return st.select_slider(k.label, list(k.options), **common)
    if isinstance(st.session_state[key], bool):
        return st.toggle(k.label, **common)
    if k.step is not None:
        hi = k.ui_hi if k.ui_hi is not None else k.hi
        return st.slider(k.label, float(k.lo or 0.0), float(hi), step=float(k.step), **common)
    return st.number_input(k.label, min_value=k.lo, max_value=k.hi, **common)


def _seed_value(key: str, value: Any) -> None:
    """Put a starting value into session_state once (widgets then own it)."""
    if key not in st.session_state:
        st.session_state[key] = value


def model_form(tab: TabState, disabled: bool) -> tuple[ModelSpec, dict[str, Any], dict[str, Any]]:
    """Draw the form; returns (spec, model config values, training values) and keeps them in the tab."""
    form = tab.form
    _seed_value("form_model", form.model if form.model in MODELS else next(iter(MODELS)))
    name = st.selectbox("Model", list(MODELS), format_func=lambda n: MODELS[n].title,
                        key="form_model", disabled=disabled)
    spec = MODELS[name]
    own = name == form.model  # the form's saved values belong to this family
    prefix = f"form_{name}_"  # per family: each keeps its own defaults and choices
    config: dict[str, Any] = {}
    for field_name, k, default in spec.knobs():
        key = prefix + field_name
        start = form.config.get(field_name, default) if own else default
        _seed_value(key, _nearest(list(k.options), start) if k.options is not None else start)
        config[field_name] = _widget(field_name, k, key, disabled)
    tr0 = default_train_config(name)
    saved = form.train if own else {}
    _seed_value(prefix + "epochs", int(saved.get("epochs", tr0.epochs)))
    _seed_value(prefix + "batch", _nearest(BATCH_SIZES, saved.get("batch_size", tr0.batch_size)))
    _seed_value(prefix + "lr", _nearest(LEARNING_RATES, saved.get("lr", tr0.lr)))
    _seed_value(prefix + "seed", int(saved.get("seed", 0)))
    threads = [0, *range(1, usable_cores() + 1)]
    _seed_value(prefix + "threads", _nearest(threads, saved.get("threads", 0)))
    c1, c2 = st.columns(2)
    train = {"epochs": int(c1.number_input("Epochs", *FORM_EPOCHS, key=prefix + "epochs", disabled=disabled)),
             "batch_size": int(c2.selectbox("Batch size", BATCH_SIZES, key=prefix + "batch", disabled=disabled))}
    train["lr"] = float(st.select_slider("Learning rate", LEARNING_RATES, format_func=lambda x: f"{x:g}",
                                         key=prefix + "lr", disabled=disabled))
    c3, c4 = st.columns(2)
    train["seed"] = int(c3.number_input("Seed", *FORM_SEEDS, key=prefix + "seed", disabled=disabled,
                                        help="The same seed and settings train the same model again."))
    train["threads"] = int(c4.selectbox(
        "CPU threads", threads, format_func=lambda n: "Auto" if n == 0 else str(n), key=prefix + "threads",
        disabled=disabled, help="Auto picks the cores other trainings and programs leave free, and one fewer "
        "when this browser runs on the server's machine (most models train faster beside the page's drawing "
        "so), so a seeded run can differ in its 8th digit beside others. A fixed count repeats it to the "
        "last digit."))
    if not disabled:  # what the user sees is what a reload shows (a running job's settings stay)
        form.model, form.config, form.train = name, config, train
    return spec, config, train


def fill_form(tab: TabState, model: str, config: dict[str, Any], train: dict[str, Any]) -> None:
    """Show these settings on the Train form (a preset), replacing what this browser tab showed."""
    for key in [k for k in st.session_state if str(k).startswith("form_")]:
        del st.session_state[key]  # the widgets are seeded afresh from the tab's form
    tab.form.model, tab.form.config, tab.form.train = model, dict(config), dict(train)
