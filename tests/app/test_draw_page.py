"""Draw a digit: a photo through the current model (the canvas itself is checked in the browser tests)."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from core.engine import TrainConfig
from core.pipeline import train_and_save
from tests.app.conftest import open_page, shown


def _floats(v) -> list[float]:
    """Plotly sends numpy arrays base64-encoded: decode either form."""
    if isinstance(v, dict):
        import base64
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"])).tolist()
    return list(v)


def _photo(kind: str = "PNG") -> bytes:
    paper = np.full((120, 90), 235, np.uint8)
    paper[20:100, 40:52] = 15  # a dark "1" on light paper
    buf = io.BytesIO()
    Image.fromarray(paper).save(buf, format=kind)
    return buf.getvalue()


def test_photo_gives_reconstruction_map_star_neighbours_and_probabilities(cae_digits_run):
    train_and_save("cnn", None, "digits", TrainConfig(epochs=1, batch_size=128))  # a saved classifier to offer
    at = open_page("pages/draw.py", run_path=cae_digits_run)
    assert not at.exception, [e.value for e in at.exception]
    at.radio(key="draw_src").set_value("Upload a photo").run()
    assert any("results appear here" in i.value for i in at.info)
    at.get("file_uploader")[0].set_value(("one.png", _photo(), "image/png")).run()
    assert not at.exception, [e.value for e in at.exception]
    charts = {c.proto.id: c for c in at.get("plotly_chart")}
    assert len(charts) == 2  # the map with the star and the probabilities
    import json
    specs = [json.loads(c.proto.spec) for c in charts.values()]
    assert any(t.get("name") == "your digit" and t["marker"]["symbol"] == "star"
               for s in specs for t in s["data"])
    assert at.metric[0].label == "Reconstruction error" and float(at.metric[0].value) > 0
    captions = [c for im in at.image for c in im.captions]
    assert sum("distance" in c for c in captions) == 8  # eight neighbours, each labelled under its image
    assert "its reconstruction" in captions
    knn = [t for s in specs for t in s["data"] if t.get("type") == "bar"][0]
    assert abs(sum(_floats(knn["y"])) - 1) < 1e-6
    from core.store import list_runs
    cnn = next(m["id"] for m in list_runs() if m["model"] == "cnn")
    assert at.selectbox(key="draw_clf").options[1].endswith(cnn)
    at.selectbox(key="draw_clf").set_value(cnn).run()
    assert not at.exception
    bars = [t for c in at.get("plotly_chart") for t in json.loads(c.proto.spec)["data"] if t.get("type") == "bar"]
    assert abs(sum(_floats(bars[0]["y"])) - 1) < 1e-4  # the CNN's softmax


def test_bad_photo_is_a_one_line_message(cae_digits_run):
    at = open_page("pages/draw.py", run_path=cae_digits_run)
    at.radio(key="draw_src").set_value("Upload a photo").run()
    at.get("file_uploader")[0].set_value(("fake.png", b"\x89PNG\r\n\x1a\n garbage", "image/png")).run()
    assert not at.exception
    assert any("fake.png: not an image" in shown(e.value) for e in at.error)
