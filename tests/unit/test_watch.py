"""Watching the latent map form: snapshots through the engine callback, budget, layout, saved frames."""
from __future__ import annotations

import numpy as np
import torch

from core.engine import TrainConfig, train
from core.models import build_model, get_spec
from core.pipeline import train_and_save
from core.store import load_run
from core.watch import FILE, MIN_FRAMES, Frames, LatentEvent, LatentWatch, can_watch, candidate_steps, layout, normalised


def _cae(ds, d=4):
    torch.manual_seed(0)
    return build_model("cae", {"latent_dim": d, "widths": [8, 16]}, ds.shape)


def test_candidate_steps_are_dense_early_and_end_at_total():
    s = candidate_steps(1000, 40)
    assert s[0] == 0 and s[-1] == 1000 and s == sorted(set(s))
    gaps = np.diff(s)
    assert gaps[0] < gaps[-1] / 5  # early snapshots are much closer together


def test_watch_does_not_change_training_and_emits_latent_events(digits):
    cfg = TrainConfig(epochs=2, batch_size=64, preview_every=0)
    plain = _cae(digits)
    r0 = train(plain, digits, cfg)
    watched = _cae(digits)
    w = LatentWatch.for_dataset(digits, n=100, budget=1.0, max_frames=12)  # no budget limit: 12 frames
    events = []
    r1 = train(watched, digits, cfg, on_event=w.wrap(watched, events.append))
    assert r0.final_losses == r1.final_losses  # encoding uses no randomness and no gradients
    for a, b in zip(plain.state_dict().values(), watched.state_dict().values()):
        assert torch.equal(a, b)
    lat = [e for e in events if isinstance(e, LatentEvent)]
    assert lat[0].step == 0 and lat[-1].step == r1.steps and lat[0].labels is not None
    assert [e.step for e in lat] == w.steps and len(w.steps) >= 10
    assert lat[1].codes.shape == (100, 4)
    assert sum(e.kind == "step" for e in events) == r1.steps  # the caller still sees every step


def test_budget_limits_the_time_spent_on_snapshots(digits):
    model = _cae(digits)
    w = LatentWatch.for_dataset(digits, budget=0.0)  # no time for snapshots: only the minimum
    res = train(model, digits, TrainConfig(epochs=3, batch_size=32, preview_every=0), on_event=w.wrap(model))
    assert len(w.steps) == MIN_FRAMES + 1 and w.steps[0] == 0 and w.steps[-1] == res.steps  # start + the plan
    assert w.steps[-2] > res.steps // 2  # the planned frames cover the whole training, not just its start


def test_layout_uses_the_code_for_2d_and_one_pca_fitted_on_the_last_frame():
    rng = np.random.default_rng(0)
    two = [rng.normal(size=(50, 2)).astype(np.float32) for _ in range(3)]
    xy, how = layout(two)
    assert how == "code" and np.allclose(xy[1], two[1])
    last = rng.normal(size=(50, 5)) * np.array([5, 3, 0.1, 0.1, 0.1])
    first = rng.normal(size=(50, 5))
    xy, how = layout([first, last])
    assert how == "pca" and xy.shape == (2, 50, 2)
    # The same linear map for every frame: frame 0's layout is first's projection on last's axes.
    from sklearn.decomposition import PCA
    p = PCA(2).fit(last)
    assert np.allclose(np.abs(xy[0]), np.abs(p.transform(first)), atol=1e-4)
    n = normalised(xy)
    assert np.allclose(n.mean(1), 0, atol=1e-5) and np.allclose((n ** 2).sum(-1).mean(-1), 1, atol=1e-4)


def test_train_and_save_keeps_the_frames_with_the_run(digits, tmp_path):
    events = []
    path, *_ = train_and_save("vae", {"latent_dim": 2, "arch": "mlp", "hidden": [32]}, digits,
                              TrainConfig(epochs=2, batch_size=64, preview_every=0), on_event=events.append,
                              root=tmp_path, watch=True)
    fr = Frames.load(path)
    assert fr is not None and fr.method == "code" and len(fr) >= 2
    assert fr.xy.shape[1:] == (digits.split("test")[0].shape[0], 2) and fr.labels is not None
    assert fr.steps[0] == 0 and np.isnan(fr.loss[0]) and np.isfinite(fr.loss[-1])
    # The last frame is the finished model's code of the probe images.
    run = load_run(path)
    with torch.no_grad():
        z = run.model.encode(digits.split("test")[0])
    assert np.allclose(fr.xy[-1], z.numpy(), atol=1e-4)
    assert sum(isinstance(e, LatentEvent) for e in events) == len(fr)


def test_no_frames_for_families_without_a_cheap_encoder(digits, tmp_path):
    assert not can_watch(get_spec("gan")) and not can_watch(get_spec("cnn")) and can_watch(get_spec("ae"))
    path, *_ = train_and_save("cnn", None, digits, TrainConfig(epochs=1, batch_size=256), root=tmp_path, watch=True)
    assert not (path / FILE).exists() and Frames.load(path) is None


def test_damaged_frames_file_reads_as_none(tmp_path):
    (tmp_path / FILE).write_bytes(b"not an npz")
    assert Frames.load(tmp_path) is None


def test_the_replay_figure_sends_every_frame_as_typed_arrays():
    """Frames stay plain dicts (no plotly objects per frame) and reach the browser as base64 float32."""
    import base64

    import plotly

    from ui.watch_view import watch_figure

    rng = np.random.default_rng(0)
    steps = [0, 5, 10, 20]
    labels = np.arange(30) % 3
    frames = Frames.from_codes(steps, [rng.normal(size=(30, 4)) for _ in steps], [1.0, 0.5, 0.4, 0.3], labels)
    fig = watch_figure(frames, ["a", "b", "c"])
    sent = plotly.tools.return_figure_from_figure_or_data(fig, validate_figure=True)  # what st.plotly_chart does
    assert [f["name"] for f in sent["frames"]] == ["0", "1", "2", "3"]
    xy = normalised(frames.xy)
    for t, f in enumerate(sent["frames"]):
        for c in range(3):  # one trace per class, in class order
            x = np.frombuffer(base64.b64decode(f["data"][c]["x"]["bdata"]), np.float32)
            np.testing.assert_allclose(x, xy[t, labels == c, 0], rtol=1e-6)
    assert '"frames"' in plotly.io.to_json(sent, validate=False)
