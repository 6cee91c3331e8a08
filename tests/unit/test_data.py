"""Unit tests for core.datasets: registry, bundled sets, npz / zip / folder loaders, uploads, check_fits, errors."""

from __future__ import annotations

import io
import socket
import urllib.error
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core import datasets as D
from core.datasets import DatasetError, check_fits, dataset_from_arrays, dataset_from_upload, load_dataset
from core.datasets import bundled, torchvision_sets

# --------------------------------------------------------------------------- helpers


def png_bytes(size: tuple[int, int] = (12, 12), color: int | tuple[int, int, int] = 128, mode: str = "L") -> bytes:
    """A tiny one-colour image encoded as PNG; size is (width, height)."""
    buf = io.BytesIO()
    Image.new(mode, size, color).save(buf, format="PNG")
    return buf.getvalue()


def make_zip(path: Path, members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    """Write `members` (arcname -> bytes) into a zip at `path`."""
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, payload in members.items():
            zf.writestr(name, payload)
    return path


def make_npz(path: Path, **arrays: np.ndarray) -> Path:
    """np.savez into `path` (no suffix games: the name given is the name written)."""
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


def assert_valid(ds: D.Dataset) -> None:
    """Invariants every Dataset must satisfy."""
    for x in (ds.x_train, ds.x_test):
        assert x.dtype == torch.float32 and x.ndim == 4 and x.is_contiguous()
        assert x.shape[1:] == ds.shape
        assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    if ds.labeled:
        for x, y in ((ds.x_train, ds.y_train), (ds.x_test, ds.y_test)):
            assert y is not None and y.dtype == torch.int64 and y.shape == (len(x),)
            assert int(y.min()) >= 0 and int(y.max()) < ds.n_classes
    else:
        assert ds.y_test is None and ds.classes == [] and ds.n_classes == 0


# A class whose unpickling would leave a trace: loading must never get that far.
def _leave_trace(path: str) -> str:
    Path(path).write_text("unpickled!")
    return "boom"


class _Trap:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (_leave_trace, (self.path,))


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch):
    """Keep uploads and downloads inside tmp_path and the size limit at its default."""
    monkeypatch.setenv("LATENT_LAB_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("LATENT_LAB_MAX_UPLOAD_MB", raising=False)


# --------------------------------------------------------------------------- registry and bundled data


def test_registry_order_and_default():
    assert list(D.DATASETS) == ["mnist5k", "digits", "waves", "mnist", "fashion-mnist", "kmnist", "cifar10"]
    assert D.DEFAULT_DATASET == "mnist5k"
    assert [n for n, i in D.DATASETS.items() if i.bundled] == ["mnist5k", "digits", "waves"]
    for name, info in D.DATASETS.items():
        assert info.name == name and info.title and info.description


def test_mnist5k_shapes_split_and_describe():
    ds = load_dataset("mnist5k")
    assert_valid(ds)
    assert ds.spec == "mnist5k" and ds.title == "MNIST-5k"
    assert ds.x_train.shape == (4000, 1, 28, 28) and ds.x_test.shape == (1000, 1, 28, 28)
    assert ds.shape == (1, 28, 28) and ds.labeled and ds.n_classes == 10
    assert ds.classes == [str(i) for i in range(10)]
    assert torch.bincount(ds.y_train).tolist() == [400] * 10
    assert torch.bincount(ds.y_test).tolist() == [100] * 10
    assert float(ds.x_train.max()) == 1.0  # real 0..255 digits, scaled
    assert ds.y_train[:50].unique().numel() > 1  # shuffled, not grouped by class
    assert ds.describe() == "MNIST-5k: 4,000 train / 1,000 test, 1x28x28, 10 classes"


def test_mnist5k_is_memoised_and_split_is_fixed():
    ds = load_dataset("mnist5k")
    assert load_dataset(" MNIST5k ", seed=123) is ds  # the seed does not move a bundled split
    fresh = bundled.load_bundled.__wrapped__("mnist5k", "MNIST-5k")  # recompute, bypassing the cache
    assert fresh is not ds
    assert torch.equal(fresh.x_train, ds.x_train) and torch.equal(fresh.y_test, ds.y_test)
    # train and test are disjoint: no test image appears in train
    train_keys = {bytes(r) for r in (ds.x_train * 255).round().to(torch.uint8).flatten(1).numpy()}
    test_keys = [bytes(r) for r in (ds.x_test * 255).round().to(torch.uint8).flatten(1).numpy()]
    assert sum(k in train_keys for k in test_keys) < 5  # MNIST has a few exact duplicates at most


def test_digits_shapes_and_stratified_split():
    ds = load_dataset("digits")
    assert_valid(ds)
    assert ds.shape == (1, 8, 8) and ds.n_classes == 10
    assert len(ds.x_train) + len(ds.x_test) == 1797
    assert 350 <= len(ds.x_test) <= 370
    per_class_test = torch.bincount(ds.y_test, minlength=10)
    per_class_all = per_class_test + torch.bincount(ds.y_train, minlength=10)
    assert ((per_class_test.float() - 0.2 * per_class_all.float()).abs() <= 1).all()
    assert float(ds.x_train.max()) == 1.0  # 16/16
    assert torch.equal(bundled.load_bundled.__wrapped__("digits", "Digits").y_train, ds.y_train)


def test_split_accessor():
    ds = load_dataset("digits")
    x, y = ds.split("test")
    assert x is ds.x_test and y is ds.y_test
    assert ds.split("train")[0] is ds.x_train
    with pytest.raises(DatasetError, match="train"):
        ds.split("validation")


# --------------------------------------------------------------------------- check_fits


def _tiny(title: str = "Tiny", shape: tuple[int, int, int] = (1, 8, 8), labels: list[int] | None = None) -> D.Dataset:
    """A small Dataset of `shape` images, labeled with `labels` (cycled over 10 images) or unlabeled."""
    x = np.zeros((10, *shape), np.float32)
    y = None if labels is None else np.array([labels[i % len(labels)] for i in range(10)])
    return dataset_from_arrays(x, y, title=title)


def test_check_fits_passes_when_everything_matches():
    ds = _tiny(labels=[0, 1, 2])
    assert check_fits(ds, (1, 8, 8)) is None
    assert check_fits(ds, [1, 8, 8], 3, needs_labels=True) is None  # any sequence of ints will do
    assert check_fits(_tiny(), (1, 8, 8), 10) is None  # unlabeled: the class count is not checked
    assert check_fits(load_dataset("digits"), (1, 8, 8), 10, needs_labels=True, what="The run") is None


def test_check_fits_shape_mismatch():
    with pytest.raises(DatasetError) as info:
        check_fits(load_dataset("digits"), (1, 28, 28))
    assert str(info.value) == (
        "the model works on 1x28x28 images but Digits has 1x8x8 images; pick a dataset of that shape"
    )
    with pytest.raises(DatasetError, match="^the run works on 3x8x8 images but Tiny has 1x8x8 images;"):
        check_fits(_tiny(labels=[0, 1]), (3, 8, 8), 2, needs_labels=True, what="the run")  # shape is checked first


def test_check_fits_needs_labels():
    with pytest.raises(DatasetError) as info:
        check_fits(_tiny("mine.npz"), (1, 8, 8), needs_labels=True, what="The classifier")
    assert str(info.value) == "The classifier needs labels and mine.npz has none; pick a labeled dataset"
    with pytest.raises(DatasetError, match="needs labels"):
        check_fits(_tiny(), (1, 8, 8), 10, needs_labels=True)  # labels are checked before the class count


def test_check_fits_class_count():
    with pytest.raises(DatasetError) as info:
        check_fits(_tiny(labels=[0, 1, 2]), (1, 8, 8), 10)
    assert str(info.value) == "the model classifies 10 classes, Tiny has 3"
    check_fits(_tiny(labels=[0, 1, 2]), (1, 8, 8), 0)  # 0 means "any number of classes"


def test_check_fits_is_in_the_public_api():
    assert "check_fits" in D.__all__ and D.check_fits is check_fits
    assert {"pick_indices", "DatasetInfo", "data_dir", "is_available_offline"} <= set(D.__all__)


# --------------------------------------------------------------------------- npz


@pytest.mark.parametrize(
    "layout, c",
    [("NHW", 1), ("NHWC", 1), ("NHWC", 3), ("NCHW", 1), ("NCHW", 3)],
)
@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_npz_layouts_and_dtypes(tmp_path, layout, c, dtype):
    n, h, w = 20, 10, 12
    rng = np.random.default_rng(0)
    nchw = rng.integers(0, 256, size=(n, c, h, w), dtype=np.uint8)
    nchw[:, 0, 0, 0] = np.arange(n)  # a unique tag per image, to follow it through the split
    arr = {"NHW": nchw[:, 0], "NHWC": nchw.transpose(0, 2, 3, 1), "NCHW": nchw}[layout]
    if dtype == "float32":
        arr = arr.astype(np.float32) / 255.0
    y = np.arange(n) % 2
    ds = load_dataset(f"npz:{make_npz(tmp_path / 'd.npz', x=arr, y=y)}")
    assert_valid(ds)
    assert ds.shape == (c, h, w)
    assert len(ds.x_train) == 16 and len(ds.x_test) == 4
    assert torch.bincount(ds.y_test).tolist() == [2, 2]  # stratified
    for x, yy in ((ds.x_train, ds.y_train), (ds.x_test, ds.y_test)):
        tags = (x[:, 0, 0, 0] * 255).round().long()
        expect = torch.from_numpy(nchw[tags.numpy()].astype(np.float32) / 255.0)
        assert torch.allclose(x, expect, atol=1e-6)
        assert torch.equal(yy, tags % 2)


def test_npz_spec_is_absolute_and_title_is_file_name(tmp_path, monkeypatch):
    make_npz(tmp_path / "mine.npz", x=np.zeros((4, 8, 8), np.uint8))
    monkeypatch.chdir(tmp_path)
    ds = load_dataset("npz:mine.npz")
    assert ds.spec == f"npz:{tmp_path / 'mine.npz'}" and ds.title == "mine.npz"
    assert not ds.labeled and ds.classes == [] and "unlabeled" in ds.describe()
    assert len(ds.x_train) == 3 and len(ds.x_test) == 1


def test_npz_with_test_split_and_classes(tmp_path):
    x = np.full((6, 8, 8), 10, np.uint8)
    xt = np.full((3, 8, 8), 20, np.uint8)
    path = make_npz(
        tmp_path / "d.npz", x=x, y=np.array([0, 1, 2, 0, 1, 2]), x_test=xt, y_test=np.array([2, 1, 0]),
        classes=np.array(["cat", "dog", "eel"]),
    )
    ds = load_dataset(f"npz:{path}")
    assert_valid(ds)
    assert ds.classes == ["cat", "dog", "eel"]
    assert len(ds.x_train) == 6 and len(ds.x_test) == 3  # given test set used as-is, no re-split
    assert ds.y_test.tolist() == [2, 1, 0]
    assert torch.allclose(ds.x_test, torch.full((3, 1, 8, 8), 20 / 255))


def test_npz_split_depends_on_seed_only(tmp_path):
    x = np.arange(50, dtype=np.uint8)[:, None, None].repeat(8, 1).repeat(8, 2)
    path = make_npz(tmp_path / "d.npz", x=x, y=np.arange(50) % 5)
    a, b, c = (load_dataset(f"npz:{path}", seed=s) for s in (1, 1, 2))
    assert torch.equal(a.x_test, b.x_test) and torch.equal(a.y_train, b.y_train)
    assert not torch.equal(a.x_test, c.x_test)
    assert torch.bincount(a.y_test).tolist() == [2] * 5


def test_arbitrary_labels_are_remapped(tmp_path):
    y = np.array([3, 7, 9] * 5)
    x = (y * 20).astype(np.uint8)[:, None, None].repeat(8, 1).repeat(8, 2)  # pixel value encodes the label
    ds = load_dataset(f"npz:{make_npz(tmp_path / 'd.npz', x=x, y=y)}")
    assert ds.classes == ["3", "7", "9"]
    for xs, ys in ((ds.x_train, ds.y_train), (ds.x_test, ds.y_test)):
        original = (xs[:, 0, 0, 0] * 255 / 20).round().long()
        assert torch.equal(torch.tensor([3, 7, 9])[ys], original)


def test_dataset_from_arrays_accepts_tensors_and_float_labels():
    x = torch.rand(10, 3, 16, 16)
    ds = dataset_from_arrays(x, torch.tensor([0.0, 1.0] * 5), spec="t", title="T")
    assert_valid(ds)
    assert ds.shape == (3, 16, 16) and ds.classes == ["0", "1"] and ds.title == "T"


# --------------------------------------------------------------------------- images: zip and folder


def test_zip_grayscale_classes_and_clutter_ignored(tmp_path):
    members = {
        f"digits/{cls}/{i}.png": png_bytes(color=level) for cls, level in (("b", 200), ("a", 50)) for i in range(5)
    }
    members.update({
        "digits/.DS_Store": b"junk",
        "__MACOSX/digits/a/._0.png": b"junk",
        "digits/a/Thumbs.db": b"junk",
    })
    ds = load_dataset(f"zip:{make_zip(tmp_path / 'd.zip', members)}")
    assert_valid(ds)
    assert ds.shape == (1, 12, 12) and ds.classes == ["a", "b"]  # wrapper folder dropped, names sorted
    assert len(ds.x_train) == 8 and torch.bincount(ds.y_test).tolist() == [1, 1]
    for x, y in ((ds.x_train, ds.y_train), (ds.x_test, ds.y_test)):
        levels = (x[:, 0, 0, 0] * 255).round().long()
        assert torch.equal(levels, torch.where(y == 0, 50, 200))


def test_zip_rgb(tmp_path):
    colours = (("red", (255, 0, 0)), ("blue", (0, 0, 255)))
    members = {f"{cls}/{i}.png": png_bytes((10, 8), rgb, "RGB") for cls, rgb in colours for i in range(3)}
    members["blue/extra.jpg"] = png_bytes((10, 8), (0, 0, 255), "RGB")  # extension is a hint only; PIL sniffs
    ds = load_dataset(f"zip:{make_zip(tmp_path / 'c.zip', members)}")
    assert_valid(ds)
    assert ds.shape == (3, 8, 10) and ds.classes == ["blue", "red"]
    x_all, y_all = torch.cat([ds.x_train, ds.x_test]), torch.cat([ds.y_train, ds.y_test])
    assert torch.equal(x_all[y_all == 1, :, 0, 0], torch.tensor([[1.0, 0.0, 0.0]]).expand(3, 3))


def test_folder_grayscale_mixed_modes_and_rgb(tmp_path):
    for cls, level in (("x", 30), ("y", 90)):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(3):
            # grey content saved as L, RGB and palette: all count as grey
            mode = ("L", "RGB", "P")[i]
            color = level if mode != "RGB" else (level,) * 3
            img = Image.new("L", (9, 9), level).convert(mode) if mode == "P" else Image.new(mode, (9, 9), color)
            img.save(tmp_path / "imgs" / cls / f"{i}.{'gif' if mode == 'P' else 'png'}")
    ds = load_dataset(f"folder:{tmp_path / 'imgs'}")
    assert_valid(ds)
    assert ds.shape == (1, 9, 9) and ds.classes == ["x", "y"] and ds.title == "imgs"

    Image.new("RGB", (9, 9), (10, 200, 30)).save(tmp_path / "imgs" / "y" / "colour.png")
    ds = load_dataset(f"folder:{tmp_path / 'imgs'}")
    assert ds.shape == (3, 9, 9)  # one colour image makes the whole set RGB


def test_zip_images_at_top_level_are_unlabeled(tmp_path):
    ds = load_dataset(f"zip:{make_zip(tmp_path / 'u.zip', {f'{i}.png': png_bytes() for i in range(5)})}")
    assert not ds.labeled and len(ds.x_train) == 4 and len(ds.x_test) == 1


# --------------------------------------------------------------------------- errors


BAD_ARRAYS = [
    (dict(x=np.zeros((5, 784), np.uint8)), "flattened"),
    (dict(x=np.zeros((5,), np.uint8)), "dimensions"),
    (dict(x=np.array([["a"] * 8] * 8)[None].repeat(3, 0)), "dtype"),
    (dict(x=np.full((3, 8, 8), np.nan, np.float32)), "NaN"),
    (dict(x=np.full((3, 8, 8), np.inf, np.float32)), "infinite"),
    (dict(x=np.full((3, 8, 8), 2.0, np.float32)), "[0, 1]"),
    (dict(x=np.full((3, 8, 8), 300, np.int32)), "0-255"),
    (dict(x=np.full((3, 8, 8), -1, np.int16)), "0-255"),
    (dict(x=np.zeros((0, 8, 8), np.uint8)), "empty"),
    (dict(x=np.zeros((3, 8, 8, 4), np.uint8)), "channels"),
    (dict(x=np.zeros((3, 100, 100), np.uint8)), "at most 64"),
    (dict(x=np.zeros((3, 4, 4), np.uint8)), "at least 8"),
    (dict(x=np.zeros((3, 8, 8), np.uint8), y=np.array([0, 1])), "3 images but `y` has 2 labels"),
    (dict(x=np.zeros((3, 8, 8), np.uint8), y=np.array([0.5, 1, 2])), "non-integer"),
    (dict(x=np.zeros((3, 8, 8), np.uint8), y=np.array([0, -1, 2])), "negative"),
    (dict(x=np.zeros((3, 8, 8), np.uint8), y=np.array(["a", "b", "c"])), "integers"),
    (dict(x=np.zeros((3, 8, 8), np.uint8), y=np.eye(3)), "one-hot"),
    (dict(x=np.zeros((3, 8, 8), np.uint8), y=np.array([0, 1, 5]), classes=np.array(["a", "b"])), "class names"),
    (dict(x=np.zeros((3, 8, 8), np.uint8), x_test=np.zeros((2, 9, 9), np.uint8)), "same image size"),
    (dict(x=np.zeros((3, 8, 8), np.uint8), y=np.array([0, 1, 1]), x_test=np.zeros((2, 8, 8), np.uint8)), "y_test"),
    (dict(x=np.zeros((3, 8, 8), np.uint8), y_test=np.array([0, 1])), "x_test"),
    (dict(x=np.zeros((1, 8, 8), np.uint8)), "at least 2"),
    (dict(y=np.array([0, 1])), "no array named 'x'"),
]


@pytest.mark.parametrize("arrays, needle", BAD_ARRAYS, ids=[n for _, n in BAD_ARRAYS])
def test_bad_npz_contents(tmp_path, arrays, needle):
    path = make_npz(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DatasetError) as info:
        load_dataset(f"npz:{path}")
    assert needle in str(info.value)


def test_pickled_object_npz_is_refused_and_never_unpickled(tmp_path):
    trace = tmp_path / "trace.txt"
    path = make_npz(tmp_path / "evil.npz", x=np.array([_Trap(str(trace))], dtype=object))
    with pytest.raises(DatasetError, match="pickle"):
        load_dataset(f"npz:{path}")
    assert not trace.exists()
    # A bare pickle file named .npz is refused the same way.
    import pickle

    (tmp_path / "p.npz").write_bytes(pickle.dumps(_Trap(str(trace))))
    with pytest.raises(DatasetError, match="pickle"):
        load_dataset(f"npz:{tmp_path / 'p.npz'}")
    assert not trace.exists()


def test_corrupt_and_truncated_npz(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"this is not numpy at all")
    with pytest.raises(DatasetError, match="numpy.savez"):
        load_dataset(f"npz:{tmp_path / 'junk.npz'}")
    good = make_npz(tmp_path / "good.npz", x=np.zeros((20, 8, 8), np.uint8)).read_bytes()
    (tmp_path / "cut.npz").write_bytes(good[: len(good) // 2])
    with pytest.raises(DatasetError, match="npz"):
        load_dataset(f"npz:{tmp_path / 'cut.npz'}")


def test_unknown_spec_missing_file_and_size_limit(tmp_path, monkeypatch):
    with pytest.raises(DatasetError, match="'mnist5k'.*'digits'"):
        load_dataset("imagenet")
    with pytest.raises(DatasetError, match="npz:"):
        load_dataset(str(tmp_path / "x.npz"))  # forgot the prefix: hinted
    with pytest.raises(DatasetError, match="not found"):
        load_dataset(f"npz:{tmp_path / 'missing.npz'}")
    with pytest.raises(DatasetError, match="not found"):
        load_dataset(f"folder:{tmp_path / 'missing'}")
    with pytest.raises(DatasetError, match="folder"):
        load_dataset(f"npz:{tmp_path}")
    path = make_npz(tmp_path / "big.npz", x=np.zeros((40, 16, 16), np.uint8))
    with pytest.raises(DatasetError, match="limit"):
        load_dataset(f"npz:{path}", max_bytes=1000)
    monkeypatch.setenv("LATENT_LAB_MAX_UPLOAD_MB", "0.001")  # ~1 KB
    with pytest.raises(DatasetError, match="limit"):
        load_dataset(f"npz:{path}")
    monkeypatch.setenv("LATENT_LAB_MAX_UPLOAD_MB", "lots")
    with pytest.raises(DatasetError, match="LATENT_LAB_MAX_UPLOAD_MB"):
        load_dataset(f"npz:{path}")


def test_zip_bomb_by_ratio(tmp_path):
    path = make_zip(tmp_path / "bomb.zip", {"a/0.png": png_bytes(), "a/1.png": bytes(5 * 1024 * 1024)})
    assert path.stat().st_size < 100_000  # 5 MB of zeros squeezed into a few KB
    with pytest.raises(DatasetError, match="zip bomb"):
        load_dataset(f"zip:{path}")


def test_zip_total_size_over_limit(tmp_path):
    path = make_zip(tmp_path / "big.zip", {"a/0.png": bytes(50_000), "a/1.png": png_bytes()})
    assert path.stat().st_size < 10_000
    with pytest.raises(DatasetError, match="expands to .* over the"):
        load_dataset(f"zip:{path}", max_bytes=10_000)


@pytest.mark.parametrize("member", ["../evil.png", "a/../../evil.png", "/etc/evil.png"])
def test_zip_path_traversal_refused(tmp_path, member):
    path = make_zip(tmp_path / "t.zip", {"a/0.png": png_bytes(), member: png_bytes()})
    with pytest.raises(DatasetError, match="unsafe path"):
        load_dataset(f"zip:{path}")


BAD_IMAGE_SETS = [
    ({"a/0.png": png_bytes(), "a/notes.txt": b"hello"}, "'a/notes.txt' is not an image"),
    (
        {"a/0.png": png_bytes((12, 12)), "b/1.png": png_bytes((16, 16))},
        "'b/1.png' is 16x16 pixels but 'a/0.png' is 12x12",
    ),
    ({"a/0.png": png_bytes((100, 100))}, "at most 64"),
    ({"a/0.png": png_bytes((5, 12))}, "at least 8"),
    ({"a/0.png": b"\x89PNG not really"}, "damaged"),
    ({"a/0.png": png_bytes(), "1.png": png_bytes()}, "class folder"),
    ({"a/readme/": b""}, "No images"),
]


@pytest.mark.parametrize("members, needle", BAD_IMAGE_SETS, ids=[n[:20] for _, n in BAD_IMAGE_SETS])
def test_bad_image_sets_in_zip_and_folder(tmp_path, members, needle):
    with pytest.raises(DatasetError) as info:
        load_dataset(f"zip:{make_zip(tmp_path / 'bad.zip', members)}")
    assert needle in str(info.value)

    root = tmp_path / "folder"
    root.mkdir()
    for name, payload in members.items():
        target = root / name
        if name.endswith("/"):
            target.mkdir(parents=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(payload)
    with pytest.raises(DatasetError) as info:
        load_dataset(f"folder:{root}")
    assert needle in str(info.value)


def test_not_a_zip(tmp_path):
    (tmp_path / "fake.zip").write_bytes(b"PK but not really")
    with pytest.raises(DatasetError, match="zip"):
        load_dataset(f"zip:{tmp_path / 'fake.zip'}")


# --------------------------------------------------------------------------- torchvision, offline


@pytest.fixture
def no_network(monkeypatch):
    """Cut the network at the socket layer, so the offline path is exercised even on a CI box that is online."""

    def refuse(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "network disabled by the test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(torchvision_sets, "DOWNLOAD_TIMEOUT_S", 2.0)


@pytest.mark.timeout(60)
def test_torchvision_offline_gives_clear_error(tmp_path, no_network):
    with pytest.raises(DatasetError) as info:
        load_dataset("mnist", data_dir=tmp_path)
    msg = str(info.value)
    assert f"{tmp_path / 'MNIST' / 'raw'}" in msg
    assert "train-images-idx3-ubyte.gz" in msg
    assert "no network" in msg and "LATENT_LAB_DATA" in msg and "'mnist5k'" in msg
    assert isinstance(info.value.__cause__, (OSError, RuntimeError, urllib.error.URLError))

    with pytest.raises(DatasetError) as info:
        load_dataset("cifar10", data_dir=tmp_path)
    assert "cifar-10-python.tar.gz" in str(info.value) and str(tmp_path) in str(info.value)


def test_is_available_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_LAB_DATA", str(tmp_path))
    assert D.data_dir() == tmp_path
    assert D.is_available_offline("mnist5k") and D.is_available_offline("digits")
    assert not D.is_available_offline("mnist") and not D.is_available_offline("nonsense")
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte"):
        (raw / name).write_bytes(b"")
    assert not D.is_available_offline("mnist")
    (raw / "t10k-labels-idx1-ubyte.gz").write_bytes(b"")  # the archive counts too
    assert D.is_available_offline("mnist")
    path = make_npz(tmp_path / "d.npz", x=np.zeros((2, 8, 8), np.uint8))
    assert D.is_available_offline(f"npz:{path}") and not D.is_available_offline(f"npz:{tmp_path / 'no.npz'}")


def test_data_dir_default(monkeypatch):
    monkeypatch.delenv("LATENT_LAB_DATA")
    assert D.data_dir() == Path.home() / ".cache" / "latent-lab" / "data"


# --------------------------------------------------------------------------- uploads


def test_upload_npz_and_zip(tmp_path):
    buf = io.BytesIO()
    np.savez(buf, x=np.zeros((10, 8, 8), np.uint8), y=np.arange(10) % 2)
    payload = buf.getvalue()
    ds = dataset_from_upload("../../My Data.npz", payload)
    assert_valid(ds)
    assert ds.title == "My Data.npz" and ds.spec.startswith("npz:")
    stored = Path(ds.spec[4:])
    assert stored.parent == tmp_path / "data" / "uploads"
    assert stored.name.endswith("_My_Data.npz") and stored.read_bytes() == payload
    assert dataset_from_upload("again.npz", payload).spec != ds.spec  # same bytes, other name: own file
    assert load_dataset(ds.spec).x_train.shape == ds.x_train.shape  # the spec reloads later

    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as zf:
        for i in range(4):
            zf.writestr(f"c{i % 2}/{i}.png", png_bytes())
    ds = dataset_from_upload("imgs.ZIP", zbuf.getvalue())
    assert ds.spec.startswith("zip:") and ds.classes == ["c0", "c1"]


def test_upload_errors():
    with pytest.raises(DatasetError, match=r"\.npz"):
        dataset_from_upload("table.csv", b"a,b\n1,2\n")
    with pytest.raises(DatasetError, match="empty"):
        dataset_from_upload("x.npz", b"")
    with pytest.raises(DatasetError, match="limit"):
        dataset_from_upload("x.npz", b"\0" * 2000, max_bytes=1000)
    with pytest.raises(DatasetError) as info:
        dataset_from_upload("broken.npz", b"garbage bytes")
    assert "broken.npz" in str(info.value)  # named as the user knows it, not by its stored name
    with pytest.raises(DatasetError, match="zip"):
        dataset_from_upload("broken.zip", b"garbage bytes")
