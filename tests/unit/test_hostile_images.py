"""Valid but unusual images are decoded the way Pillow and torchvision users expect (issue 9, point 4).

16-bit greys are scaled by 65535 (not clipped to white), transparency is composited onto
white (what a browser shows), palette and CMYK go through Pillow's own conversion, and the
EXIF orientation of camera photos is applied.
"""
from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from core.datasets import dataset_from_upload
from core.datasets.images import _decode


def _save(im: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_16_bit_grey_png_is_scaled_not_clipped():
    ramp = (np.arange(64, dtype=np.uint32) * 1040).astype(np.uint16).reshape(8, 8)  # 0 .. 65520
    out = _decode(_save(Image.fromarray(ramp)), "deep.png")
    assert out.dtype == np.float32 and out.shape == (8, 8)
    np.testing.assert_allclose(out, ramp / 65535.0, atol=1e-6)
    assert 0.0 < float(np.median(out)) < 1.0  # clipping would make almost everything 1.0


def test_16_bit_and_8_bit_images_share_one_scale_in_a_dataset():
    mid16 = Image.fromarray(np.full((8, 8), 32768, np.uint16))
    mid8 = Image.fromarray(np.full((8, 8), 128, np.uint8))
    data = _zip({"a/1.png": _save(mid16), "a/2.png": _save(mid16), "b/1.png": _save(mid8), "b/2.png": _save(mid8)})
    ds = dataset_from_upload("mixed.zip", data)
    x = torch.cat([ds.x_train, ds.x_test])
    assert x.shape[1:] == (1, 8, 8)
    assert torch.allclose(x.mean(dim=(1, 2, 3)), torch.full((4,), 0.5), atol=0.003)


def test_rgba_transparency_is_composited_onto_white():
    rgba = np.zeros((8, 8, 4), np.uint8)  # transparent black everywhere ...
    rgba[:4] = (255, 0, 0, 255)  # ... except an opaque red top half
    rgba[4:6] = (0, 0, 0, 128)  # and half-transparent black
    out = _decode(_save(Image.fromarray(rgba, "RGBA")), "a.png")
    assert out.shape == (8, 8, 3)
    assert (out[:4] == (255, 0, 0)).all()
    assert (out[6:] == 255).all()  # fully transparent -> white, not the hidden black
    assert (np.abs(out[4:6].astype(int) - 127) <= 1).all()  # 50% black over white


def test_grey_with_alpha_and_palette_with_transparency():
    la = Image.new("LA", (8, 8), (0, 0))  # transparent black
    assert (_decode(_save(la), "la.png") == 255).all()
    pal = Image.new("P", (8, 8), 1)
    pal.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)  # index 0 black, index 1 blue
    pal.paste(0, (0, 0, 8, 4))
    out = _decode(_save(pal, transparency=0), "pal.png")
    assert (out[:4] == 255).all() and (out[4:] == (0, 0, 255)).all()
    no_alpha = pal.copy()
    assert (_decode(_save(no_alpha), "pal.png")[:4] == 0).all()  # an opaque palette keeps its colours


def test_cmyk_jpeg_goes_through_pillow():
    cmyk = Image.new("CMYK", (16, 16), (255, 0, 0, 0))  # pure cyan
    out = _decode(_save(cmyk, "JPEG", quality=100), "c.jpg").astype(int)
    assert out.shape == (16, 16, 3)
    assert (np.abs(out - (0, 255, 255)) <= 3).all()


def test_exif_orientation_is_applied():
    arr = np.zeros((16, 8), np.uint8)  # 8 wide, 16 high, a bright top-left corner
    arr[:2, :2] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view"
    data = _save(Image.fromarray(arr), "JPEG", quality=100, exif=exif.tobytes())
    out = _decode(data, "photo.jpg")
    expected = np.asarray(Image.fromarray(arr).transpose(Image.Transpose.ROTATE_270))
    assert out.shape == (8, 16)  # now as the camera's viewer shows it
    assert np.abs(out.astype(int) - expected.astype(int)).max() < 40  # JPEG is lossy; the corner moved


def test_one_bit_and_grey_rgb_images_become_one_channel():
    bits = Image.new("1", (8, 8), 1)
    assert (_decode(_save(bits), "b.png") == 255).all() and _decode(_save(bits), "b.png").ndim == 2
    grey_rgb = Image.fromarray(np.full((8, 8, 3), 77, np.uint8))
    assert _decode(_save(grey_rgb), "g.png").shape == (8, 8)


def test_full_white_16_bit_is_one_not_more():
    out = _decode(_save(Image.fromarray(np.full((8, 8), 65535, np.uint16))), "x.png")
    assert out.dtype == np.float32 and float(out.max()) == pytest.approx(1.0) and float(out.min()) >= 0.99
