"""The hybrid-vs-CNN figures (ui.figures): learning curves, confusion matrices, the sweep."""
from __future__ import annotations

from ui.figures import confusion_figure, curves_figure, sweep_figure


def test_curves_figure_one_line_per_model_and_seed_one_legend_entry_per_model():
    curve = {"step": [1, 2, 3], "accuracy": [0.2, 0.5, 0.7]}
    fig = curves_figure({"cnn": [curve, curve], "hybrid": [curve]})
    assert len(fig.data) == 3
    assert [t.showlegend for t in fig.data] == [True, False, True]
    assert list(fig.data[0].y) == [0.2, 0.5, 0.7]


def test_confusion_figure_is_a_heatmap_over_the_classes():
    fig = confusion_figure([[3, 1], [0, 4]], ["a", "b"], "CNN")
    (heat,) = fig.data
    assert heat.type == "heatmap" and list(heat.x) == ["a", "b"] and heat.z[1][1] == 4


def test_sweep_figure_plots_both_models_against_the_levels():
    rows = [{"labels_per_class": lv, "cnn": {"mean": m, "std": 0.01}, "hybrid": {"mean": m + 0.05, "std": 0.02}}
            for lv, m in ((1, 0.3), (10, 0.8), ("all", 0.95))]
    fig = sweep_figure(rows)
    assert len(fig.data) == 2
    assert list(fig.data[0].x) == ["1", "10", "all"] and list(fig.data[1].y) == [r["hybrid"]["mean"] for r in rows]
