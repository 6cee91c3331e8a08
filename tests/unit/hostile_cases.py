"""The bad-input suite's cases, their builder, and the worker process that feeds them to Latent Lab.

Every case is a small hostile input (a file that *declares* huge things rather than being
huge, a damaged run, a bad CLI argument) handed to the entry point a user reaches: the
sidebar's dataset upload (``dataset_from_upload``), the Runs page's upload (``import_run``),
a run folder in the runs root (what the Runs page, ``list_runs`` and ``python -m core runs``
read), and the command line (``core.cli.main``).

The inputs are built in the test process (:func:`build`); then one fresh worker process
(``python -m tests.unit.hostile_cases DIR``) feeds them in, one case after another, and
records for each: the outcome, the message, the captured output, the process's peak
memory (VmHWM: the worker's own high-water mark, so after a case it bounds that case), the
time, and every file that changed under the sandbox. ``test_hostile.py`` asserts on those
records; ``bench/hostile.py`` prints them as a table.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import signal
import struct
import subprocess
import sys
import time
import traceback
import zipfile
import zlib
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CASE_TIMEOUT_S = 60  # a hang guard, not a speed target (bench/hostile.py reports the times)


@dataclass
class Case:
    """One hostile input: where it goes in, what the message must mention, and how to build it."""

    id: str
    channel: str  # upload | run_upload | run_folder | cli | import_then_eval
    needle: str  # a regex the one-line message must match (case-insensitive)
    make: Callable[["Ctx"], dict[str, Any]]
    env: dict[str, str] | None = None


@dataclass
class Ctx:
    """Where the inputs go, and the sandbox the worker runs in."""

    root: Path  # the sandbox: home/runs, home/data, cwd, inputs

    @property
    def inputs(self) -> Path:
        return self.root / "inputs"

    @property
    def runs(self) -> Path:
        return self.root / "home" / "runs"

    @property
    def good(self) -> Path:
        return self.runs / "good-cae"

    def good_meta(self) -> dict[str, Any]:
        return json.loads((self.good / "run.json").read_text())

    def good_weights(self) -> bytes:
        return (self.good / "model.safetensors").read_bytes()

    def file(self, name: str, data: bytes) -> str:
        path = self.inputs / name
        path.write_bytes(data)
        return str(path)


# --------------------------------------------------------------------------- crafting small hostile files


def npz(**arrays: Any) -> bytes:
    """An .npz of these arrays (np.savez, so object arrays are pickled inside, as a real one would be)."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def npy_header(descr: str, shape: tuple, version: int = 1, header_len: int | None = None) -> bytes:
    """The bytes of an .npy header declaring ``shape`` of ``descr`` (nothing else checks it is true)."""
    text = repr({"descr": descr, "fortran_order": False, "shape": tuple(shape)}).encode("latin1")
    fixed = 10 if version == 1 else 12
    pad = (-(fixed + len(text) + 1)) % 64
    text = text + b" " * pad + b"\n"
    size = len(text) if header_len is None else header_len
    lenfield = struct.pack("<H", size) if version == 1 else struct.pack("<I", size)
    return b"\x93NUMPY" + bytes([version, 0]) + lenfield + text


def zip_of(members: list[tuple[str, bytes]], *, compress: int = zipfile.ZIP_DEFLATED, encrypted: bool = False,
           method: int | None = None) -> bytes:
    """A zip of (name, bytes) members; ``encrypted`` sets the flag bit, ``method`` patches the compression id."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compress) as z:
        for name, data in members:
            info = zipfile.ZipInfo(name)
            info.compress_type = compress
            z.writestr(info, data)
    raw = bytearray(buf.getvalue())
    # zipfile writes neither encryption nor unknown methods: patch the local and central headers.
    for sig, flag_at, method_at in ((b"PK\x03\x04", 6, 8), (b"PK\x01\x02", 8, 10)):
        i = raw.find(sig)
        while i != -1:
            if encrypted:
                raw[i + flag_at] |= 0x1
            if method is not None:  # e.g. 98 (PPMd): the directory says so, zipfile cannot inflate it
                raw[i + method_at:i + method_at + 2] = struct.pack("<H", method)
            i = raw.find(sig, i + 4)
    return bytes(raw)


def zip_of_zeros(name: str, nbytes: int, prefix: bytes = b"") -> bytes:
    """A zip with one member of ``prefix`` + ``nbytes`` zeros, deflated while streaming (never in memory)."""
    buf = io.BytesIO()
    chunk = bytes(1 << 20)
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        with z.open(name, "w", force_zip64=True) as f:
            f.write(prefix)
            left = nbytes
            while left > 0:
                f.write(chunk[:min(left, len(chunk))])
                left -= len(chunk)
    return buf.getvalue()


def zip_declaring(entries: int, directory_bytes: int) -> bytes:
    """A tiny file whose end record declares ``entries`` members in ``directory_bytes`` of directory."""
    return b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, min(entries, 0xFFFF), min(entries, 0xFFFF),
                                       directory_bytes, 0, 0)


def png_declaring(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height pixels, with no pixel data at all."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def png(arr: np.ndarray) -> bytes:
    """A real PNG of a uint8 array."""
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def image_zip(layout: dict[str, np.ndarray | bytes]) -> bytes:
    """A zip of images: {"cls/name.png": array or raw bytes}."""
    return zip_of([(k, png(v) if isinstance(v, np.ndarray) else v) for k, v in layout.items()])


def digits_like(n: int, side: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, side, side), dtype=np.uint8)


def run_zip(ctx: Ctx, change: Callable[[dict], Any] | None = None, *, meta_text: str | None = None,
            weights: bytes | None = None, extra: list[tuple[str, bytes]] = ()) -> bytes:
    """The good run as an upload, with its run.json changed by ``change`` (or replaced by ``meta_text``)."""
    meta = ctx.good_meta()
    if change is not None:
        change(meta)
    text = meta_text if meta_text is not None else json.dumps(meta)
    return zip_of([("run.json", text.encode()), ("model.safetensors", weights or ctx.good_weights()), *extra])


def run_folder(ctx: Ctx, name: str, change: Callable[[dict], Any] | None = None, *, meta_text: str | None = None,
               weights: bool = True, extra: dict[str, bytes] | None = None) -> dict[str, Any]:
    """A damaged run folder in the runs root (the good run's files, changed)."""
    folder = ctx.runs / name
    folder.mkdir()
    meta = ctx.good_meta()
    if change is not None:
        change(meta)
    (folder / "run.json").write_text(meta_text if meta_text is not None else json.dumps(meta))
    if weights:
        (folder / "model.safetensors").write_bytes(ctx.good_weights())
    for fname, data in (extra or {}).items():
        (folder / fname).write_bytes(data)
    return {"folder": str(folder), "deletable": not extra}


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def setter(path: str, value: Any) -> Callable[[dict], None]:
    """A change that sets meta[a][b]... = value ("config.latent_dim")."""
    keys = path.split(".")

    def change(meta: dict) -> None:
        d = meta
        for k in keys[:-1]:
            d = d[k]
        d[keys[-1]] = value
    return change


def raw_meta(ctx: Ctx, old: str, new: str) -> str:
    """The good run.json text with one literal replaced (numbers json.dumps cannot write, e.g. 1e400)."""
    text = json.dumps(ctx.good_meta())
    assert old in text, old
    return text.replace(old, new, 1)


# --------------------------------------------------------------------------- the cases


def _upload(name: str, data: Callable[[Ctx], bytes]) -> Callable[[Ctx], dict[str, Any]]:
    return lambda ctx: {"name": name, "file": ctx.file(f"{len(os.listdir(ctx.inputs))}-{name}", data(ctx))}


def _run_upload(data: Callable[[Ctx], bytes]) -> Callable[[Ctx], dict[str, Any]]:
    return lambda ctx: {"file": ctx.file(f"{len(os.listdir(ctx.inputs))}-run.zip", data(ctx))}


def _cli(argv: Callable[[Ctx], list[str]]) -> Callable[[Ctx], dict[str, Any]]:
    return lambda ctx: {"argv": argv(ctx)}


def _cli_out_nonrun(ctx: Ctx) -> list[str]:
    d = ctx.root / "cwd" / "my-notes"
    d.mkdir()
    (d / "thesis.txt").write_text("years of work")
    return ["train", "--model", "cae", "--dataset", "digits", "--out", str(d)]


def _cli_out_empty(ctx: Ctx) -> list[str]:
    d = ctx.root / "cwd" / "empty-folder"
    d.mkdir()
    return ["train", "--model", "cae", "--dataset", "digits", "--out", str(d)]


def _cli_out_file(ctx: Ctx) -> list[str]:
    f = ctx.root / "cwd" / "report.pdf"
    f.write_bytes(b"%PDF-1.4 precious")
    return ["train", "--model", "cae", "--dataset", "digits", "--out", str(f)]


def _cli_project_out_dir(ctx: Ctx) -> list[str]:
    d = ctx.root / "cwd" / "exports"
    d.mkdir()
    return ["project", "--run", str(ctx.good), "--dataset", "digits", "--method", "pca", "--out", str(d)]


def _npz_file(ctx: Ctx, name: str, data: bytes) -> str:
    return ctx.file(name, data)


def _import_then_eval(ctx: Ctx) -> dict[str, Any]:
    secret = ctx.root / "secret" / "grades.npz"
    secret.parent.mkdir()
    secret.write_bytes(npz(x=digits_like(20), y=np.arange(20) % 2))
    data = run_zip(ctx, setter("dataset", f"npz:{secret}"))
    return {"file": ctx.file("shared-run.zip", data), "secret": str(secret)}


GOOD_DIGITS = lambda n=40: digits_like(n)  # noqa: E731


CASES: list[Case] = [
    # ---- sidebar dataset uploads: .npz
    Case("npz-bomb-195mb", "upload", r"zip bomb",
         _upload("tiny.npz", lambda c: zip_of_zeros("x.npy", 195 * 2**20, npy_header("|u1", (49920, 64, 64))))),
    Case("npz-header-claims-huge-shape", "upload", r"declares shape",
         _upload("d.npz", lambda c: zip_of([("x.npy", npy_header("|u1", (10**9, 64, 64)) + bytes(512))]))),
    Case("npz-header-claims-huge-shape-bare-npy", "upload", r"declares shape",
         _upload("d.npz", lambda c: npy_header("<f4", (10**7, 64, 64)) + bytes(4096))),
    Case("npz-header-negative-dim", "upload", r"not a valid array shape",
         _upload("d.npz", lambda c: zip_of([("x.npy", npy_header("|u1", (-5, 8, 8)) + bytes(64))]))),
    Case("npz-header-length-4gb", "upload", r"not a NumPy array",
         _upload("d.npz", lambda c: zip_of([("x.npy", npy_header("|u1", (4, 8, 8), version=2,
                                                                  header_len=2**32 - 1) + bytes(256))]))),
    Case("npz-over-float32-budget", "upload", r"float32, over the 1\.0 MB limit",
         _upload("d.npz", lambda c: npz(x=digits_like(5000, 8))), env={"LATENT_LAB_MAX_DATA_MB": "1"}),
    Case("npz-encrypted-member", "upload", r"encrypted",
         _upload("d.npz", lambda c: zip_of([("x.npy", npz_member(digits_like(10)))], encrypted=True))),
    Case("npz-unsupported-compression", "upload", r"compression method",
         _upload("d.npz", lambda c: zip_of([("x.npy", npz_member(digits_like(10)))], method=98))),
    Case("npz-member-not-an-array", "upload", r"not a NumPy array",
         _upload("d.npz", lambda c: zip_of([("x.npy", b"these are not the images you are looking for")]))),
    Case("npz-member-without-npy-suffix", "upload", r"not a NumPy array \(\.npy\)",
         _upload("d.npz", lambda c: zip_of([("x", npz_member(digits_like(10)))]))),
    Case("npz-pickled-objects", "upload", r"pickled",
         _upload("d.npz", lambda c: npz(x=np.array([{"a": 1}, None], dtype=object)))),
    Case("npz-structured-dtype", "upload", r"dtype",
         _upload("d.npz", lambda c: npz(x=np.zeros((4, 8, 8), dtype=[("a", "u1"), ("b", "f4")])))),
    Case("npz-complex-images", "upload", r"dtype complex64",
         _upload("d.npz", lambda c: npz(x=np.zeros((4, 8, 8), np.complex64)))),
    Case("npz-text-images", "upload", r"dtype <U",
         _upload("d.npz", lambda c: npz(x=np.array([["a"] * 8] * 8)))),
    Case("npz-no-x", "upload", r"no array named 'x'", _upload("d.npz", lambda c: npz(images=GOOD_DIGITS()))),
    Case("npz-nan-pixels", "upload", r"NaN", _upload("d.npz", lambda c: npz(x=np.full((6, 8, 8), np.nan)))),
    Case("npz-floats-0-255", "upload", r"must be in \[0, 1\]",
         _upload("d.npz", lambda c: npz(x=GOOD_DIGITS().astype(np.float32)))),
    Case("npz-ints-out-of-range", "upload", r"integer images must be 0-255",
         _upload("d.npz", lambda c: npz(x=np.full((6, 8, 8), 1000, np.int32)))),
    Case("npz-flattened", "upload", r"flattened", _upload("d.npz", lambda c: npz(x=np.zeros((10, 784), np.uint8)))),
    Case("npz-images-too-large", "upload", r"too large",
         _upload("d.npz", lambda c: npz(x=np.zeros((2, 128, 128), np.uint8)))),
    Case("npz-images-too-small", "upload", r"too small",
         _upload("d.npz", lambda c: npz(x=np.zeros((6, 4, 4), np.uint8)))),
    Case("npz-labels-count-mismatch", "upload", r"must match",
         _upload("d.npz", lambda c: npz(x=GOOD_DIGITS(10), y=np.arange(5)))),
    Case("npz-2000-classes", "upload", r"2,000 different classes",
         _upload("d.npz", lambda c: npz(x=digits_like(4000), y=np.arange(4000) % 2000))),
    Case("npz-5000-class-names", "upload", r"class names",
         _upload("d.npz", lambda c: npz(x=GOOD_DIGITS(), y=np.arange(40) % 2,
                                        classes=np.array([f"c{i}" for i in range(5000)])))),
    Case("npz-negative-labels", "upload", r"negative values",
         _upload("d.npz", lambda c: npz(x=GOOD_DIGITS(20), y=np.arange(20) % 2 - 1))),
    Case("npz-truncated", "upload", r"damaged",
         _upload("d.npz", lambda c: npz(x=GOOD_DIGITS(200), y=np.arange(200) % 2)[:3000])),
    Case("npz-not-a-zip", "upload", r"Could not read .* as a NumPy \.npz",
         _upload("d.npz", lambda c: b"MZ\x90\x00" + bytes(2000))),
    Case("npz-empty-file", "upload", r"empty", _upload("d.npz", lambda c: b"")),
    Case("npz-over-upload-limit", "upload", r"over the .* limit",
         _upload("d.npz", lambda c: npz(x=GOOD_DIGITS(400))), env={"LATENT_LAB_MAX_UPLOAD_MB": "0.01"}),
    Case("npz-declares-5m-members", "upload", r"declares .* members",
         _upload("d.npz", lambda c: zip_declaring(65535, 4_000_000_000))),
    Case("upload-wrong-extension", "upload", r"upload a \.npz", _upload("grades.csv", lambda c: b"a,b\n1,2\n")),
    Case("upload-bad-limit-variable", "upload", r"LATENT_LAB_MAX_DATA_MB must be a positive number",
         _upload("d.npz", lambda c: npz(x=GOOD_DIGITS())), env={"LATENT_LAB_MAX_DATA_MB": "lots"}),

    # ---- sidebar dataset uploads: image zips
    Case("zip-bomb-member", "upload", r"zip bomb",
         _upload("imgs.zip", lambda c: zip_of_zeros("a/huge.bmp", 300 * 2**20))),
    Case("zip-path-traversal", "upload", r"unsafe path",
         _upload("imgs.zip", lambda c: image_zip({"../../evil.png": GOOD_DIGITS(1)[0]}))),
    Case("zip-absolute-path", "upload", r"unsafe path",
         _upload("imgs.zip", lambda c: image_zip({"/etc/cron.d/x.png": GOOD_DIGITS(1)[0]}))),
    Case("zip-not-an-image", "upload", r"not an image",
         _upload("imgs.zip", lambda c: image_zip({"a/1.png": GOOD_DIGITS(1)[0], "a/run.sh": b"rm -rf ~"}))),
    Case("zip-damaged-image", "upload", r"damaged or not really an image",
         _upload("imgs.zip", lambda c: image_zip({"a/1.png": b"\x89PNG\r\n\x1a\nnot really", "b/1.png": b"x"}))),
    Case("zip-png-declares-100k-pixels-a-side", "upload", r"too large",
         _upload("imgs.zip", lambda c: image_zip({"a/1.png": png_declaring(100_000, 100_000),
                                                  "b/1.png": png_declaring(100_000, 100_000)}))),
    Case("zip-mixed-image-sizes", "upload", r"same size",
         _upload("imgs.zip", lambda c: image_zip({"a/1.png": digits_like(1, 8)[0], "a/2.png": digits_like(1, 10)[0],
                                                  "b/1.png": digits_like(1, 8)[0]}))),
    Case("zip-bad-layout", "upload", r"not directly inside a class folder",
         _upload("imgs.zip", lambda c: image_zip({"a/1.png": GOOD_DIGITS(1)[0], "a/b/c/2.png": GOOD_DIGITS(1)[0]}))),
    Case("zip-150-class-folders", "upload", r"150 class folders",
         _upload("imgs.zip", lambda c: image_zip({f"c{i}/{j}.png": np.full((8, 8), i, np.uint8)
                                                  for i in range(150) for j in range(2)}))),
    Case("zip-images-too-small", "upload", r"too small",
         _upload("imgs.zip", lambda c: image_zip({f"{k}/{j}.png": digits_like(1, 4, j)[0]
                                                  for k in "ab" for j in range(2)}))),
    Case("zip-encrypted-member", "upload", r"encrypted",
         _upload("imgs.zip", lambda c: zip_of([("a/1.png", png(GOOD_DIGITS(1)[0])),
                                               ("b/1.png", png(GOOD_DIGITS(1)[0]))], encrypted=True))),
    Case("zip-unsupported-compression", "upload", r"unusual compression",
         _upload("imgs.zip", lambda c: zip_of([("a/1.png", png(GOOD_DIGITS(1)[0])),
                                               ("b/1.png", png(GOOD_DIGITS(1)[0]))], method=98))),
    Case("zip-declares-5m-members", "upload", r"declares .* members",
         _upload("imgs.zip", lambda c: zip_declaring(65535, 4_000_000_000))),
    Case("zip-no-images", "upload", r"No images found",
         _upload("imgs.zip", lambda c: zip_of([("__MACOSX/._a", b"x"), (".DS_Store", b"x")]))),
    Case("zip-not-a-zip", "upload", r"Could not open .* as a zip",
         _upload("imgs.zip", lambda c: b"PK\x03\x04 this is no zip" + bytes(100))),
    Case("zip-too-many-images-for-budget", "upload", r"float32 once decoded",
         _upload("imgs.zip", lambda c: image_zip({f"a/{j}.png": digits_like(1, 64, j)[0] for j in range(80)})),
         env={"LATENT_LAB_MAX_DATA_MB": "1"}),

    # ---- the Runs page's upload: run zips
    Case("run-json-bomb", "run_upload", r"run\.json .* unpacks to .* over the",
         _run_upload(lambda c: _json_bomb_zip(c))),
    Case("run-json-nested-100k-deep", "run_upload", r"nests lists or objects",
         _run_upload(lambda c: run_zip(c, meta_text=nested(100_000)))),
    Case("run-json-nested-40-deep", "run_upload", r"more than 16 deep",
         _run_upload(lambda c: run_zip(c, setter("result.deep", json.loads(nested(40)))))),
    Case("run-format-wrong-type", "run_upload", r"'format' is invalid",
         _run_upload(lambda c: run_zip(c, setter("format", "1")))),
    Case("run-format-newer", "run_upload", r"newer Latent Lab", _run_upload(lambda c: run_zip(c, setter("format", 99)))),
    Case("run-id-wrong-type", "run_upload", r"'id' is invalid", _run_upload(lambda c: run_zip(c, setter("id", [1, 2])))),
    Case("run-id-trailing-newline", "run_upload", r"'id' is invalid",
         _run_upload(lambda c: run_zip(c, setter("id", "innocent\n")))),
    Case("run-number-1e400", "run_upload", r"1e400, out of range",
         _run_upload(lambda c: run_zip(c, meta_text=raw_meta(c, '"n_classes": 0', '"n_classes": 1e400')))),
    Case("run-int-5000-digits", "run_upload", r"5000-digit integer",
         _run_upload(lambda c: run_zip(c, meta_text=raw_meta(c, '"n_classes": 0', '"n_classes": ' + "9" * 5000)))),
    Case("run-metric-nan", "run_upload", r"'metrics\.recon_bce' is invalid",
         _run_upload(lambda c: run_zip(c, meta_text=raw_meta(c, '"recon_bce": ', '"recon_bce": NaN, "x": ')))),
    Case("run-huge-hidden-layers", "run_upload", r"parameters, more than the limit",
         _run_upload(lambda c: run_zip(c, lambda m: m.update(model="ae", config={"latent_dim": 4,
                                                                              "hidden": [4096] * 6})))),
    Case("run-huge-conv-width", "run_upload", r"'widths' must be between 1 and 512",
         _run_upload(lambda c: run_zip(c, setter("config.widths", [100_000, 100_000])))),
    Case("run-too-many-layers", "run_upload", r"at most 5 entries",
         _run_upload(lambda c: run_zip(c, setter("config.widths", [8] * 40)))),
    Case("run-huge-image-shape", "run_upload", r"'shape\.\d' is invalid",
         _run_upload(lambda c: run_zip(c, setter("shape", [3, 4096, 4096])))),
    Case("run-huge-latent", "run_upload", r"'latent_dim' must be between",
         _run_upload(lambda c: run_zip(c, setter("config.latent_dim", 10**6)))),
    Case("run-gan-encode-steps-1e9", "run_upload", r"'encode_steps' must be between 1 and 1000",
         _run_upload(lambda c: run_zip(c, lambda m: m.update(model="gan", config={"latent_dim": 4,
                                                                               "encode_steps": 10**9})))),
    Case("run-5000-classes", "run_upload", r"'n_classes' is invalid",
         _run_upload(lambda c: run_zip(c, lambda m: m.update(model="cnn", n_classes=5000, config={})))),
    Case("run-config-wrong-type", "run_upload", r"'config' is invalid",
         _run_upload(lambda c: run_zip(c, setter("config", "big")))),
    Case("run-fakes-an-error", "run_upload", r"'error' is invalid",
         _run_upload(lambda c: run_zip(c, setter("error", "everything is fine")))),
    Case("run-extra-member", "run_upload", r"exactly run\.json and model\.safetensors",
         _run_upload(lambda c: run_zip(c, extra=[("evil.py", b"import os")]))),
    Case("run-path-traversal-member", "run_upload", r"exactly run\.json",
         _run_upload(lambda c: zip_of([("../run.json", b"{}"), ("model.safetensors", b"x")]))),
    Case("run-pickled-weights", "run_upload", r"not a safetensors file",
         _run_upload(lambda c: run_zip(c, weights=b"\x80\x04\x95" + bytes(200)))),
    Case("run-weights-far-too-big", "run_upload", r"far larger",
         _run_upload(lambda c: run_zip(c, weights=os.urandom(6 * 2**20)))),
    Case("run-weights-of-another-model", "run_upload", r"do not match|do not belong together",
         _run_upload(lambda c: run_zip(c, setter("config.latent_dim", 5)))),
    Case("run-not-a-zip", "run_upload", r"not a Latent Lab run file", _run_upload(lambda c: b"hello")),
    Case("run-json-not-an-object", "run_upload", r"not a JSON object",
         _run_upload(lambda c: run_zip(c, meta_text="[1, 2]"))),
    Case("run-json-invalid", "run_upload", r"not valid JSON", _run_upload(lambda c: run_zip(c, meta_text="{nope"))),
    Case("run-encrypted", "run_upload", r"encrypted",
         _run_upload(lambda c: zip_of([("run.json", b"{}"), ("model.safetensors", b"x")], encrypted=True))),
    Case("run-declares-5m-members", "run_upload", r"declares .* members",
         _run_upload(lambda c: zip_declaring(65535, 4_000_000_000))),
    Case("run-over-size-limit", "run_upload", r"larger than 1 MB",
         _run_upload(lambda c: os.urandom(2 * 2**20)), env={"LATENT_LAB_MAX_RUN_MB": "1"}),

    # ---- run folders in the runs root (what the Runs page and `python -m core runs` list)
    Case("folder-json-invalid", "run_folder", r"not valid JSON",
         lambda c: run_folder(c, "bad-json", meta_text="{oops")),
    Case("folder-format-wrong-type", "run_folder", r"'format' is invalid",
         lambda c: run_folder(c, "bad-format", setter("format", "1"))),
    Case("folder-created-wrong-type", "run_folder", r"'created' is invalid",
         lambda c: run_folder(c, "bad-created", setter("created", 20260101))),
    Case("folder-model-wrong-type", "run_folder", r"'model' is invalid",
         lambda c: run_folder(c, "bad-model", setter("model", 3))),
    Case("folder-dataset-wrong-type", "run_folder", r"'dataset' is invalid",
         lambda c: run_folder(c, "bad-dataset", setter("dataset", ["digits"]))),
    Case("folder-metric-wrong-type", "run_folder", r"'metrics\.recon_bce' is invalid",
         lambda c: run_folder(c, "bad-metric", setter("metrics.recon_bce", "low"))),
    Case("folder-shape-floats", "run_folder", r"whole numbers",
         lambda c: run_folder(c, "bad-shape", setter("shape", [1.0, 8.0, 8.0]))),
    Case("folder-no-weights", "run_folder", r"no model\.safetensors",
         lambda c: run_folder(c, "no-weights", weights=False)),
    Case("folder-json-5mb", "run_folder", r"over the 4096 KB limit",
         lambda c: run_folder(c, "big-json", meta_text=json.dumps(c.good_meta()) + " " * (5 * 2**20))),
    Case("folder-json-deep", "run_folder", r"nests lists or objects",
         lambda c: run_folder(c, "deep-json", meta_text=nested(50_000))),
    Case("folder-history-200k-points", "run_folder", r"'history\.loss' is invalid",
         lambda c: run_folder(c, "long-history", setter("history", {"loss": [0.5] * 200_000}))),
    Case("folder-gan-encode-steps-1e9", "run_folder", r"'encode_steps' must be between 1 and 1000",
         lambda c: run_folder(c, "gan-hang", lambda m: m.update(model="gan", config={"latent_dim": 4,
                                                                                  "encode_steps": 10**9}))),
    Case("folder-newline-in-name", "run_folder", r"not valid JSON",
         lambda c: run_folder(c, "odd\nname", meta_text="{")),
    Case("folder-damaged-with-user-file", "run_folder", r"not valid JSON",
         lambda c: run_folder(c, "with-notes", meta_text="{", extra={"notes.txt": b"mine, keep"})),

    # ---- the command line
    Case("cli-train-out-non-run-folder", "cli", r"is not a run", _cli(_cli_out_nonrun)),
    Case("cli-train-out-empty-folder", "cli", r"is not a run", _cli(_cli_out_empty)),
    Case("cli-train-out-existing-run", "cli", r"--force",
         _cli(lambda c: ["train", "--model", "cae", "--dataset", "digits", "--out", str(c.good)])),
    Case("cli-train-out-a-file", "cli", r"not a run folder", _cli(_cli_out_file)),
    Case("cli-train-out-with-newline", "cli", r"not a usable folder name",
         _cli(lambda c: ["train", "--model", "cae", "--dataset", "digits", "--out", "runs/new\n"])),
    Case("cli-train-epochs-0", "cli", r"epochs must be between",
         _cli(lambda c: ["train", "--model", "cae", "--dataset", "digits", "--epochs", "0"])),
    Case("cli-train-batch-0", "cli", r"batch size", _cli(lambda c: ["train", "--model", "ae", "--batch-size", "0"])),
    Case("cli-train-lr-nan", "cli", r"learning rate", _cli(lambda c: ["train", "--model", "ae", "--lr", "nan"])),
    Case("cli-train-threads-negative", "cli", r"threads must be 0 \(auto\)",
         _cli(lambda c: ["train", "--model", "ae", "--threads", "-1"])),
    Case("cli-train-max-steps-negative", "cli", r"max_steps",
         _cli(lambda c: ["train", "--model", "ae", "--dataset", "digits", "--max-steps", "-1"])),
    Case("cli-train-latent-1e8", "cli", r"'latent_dim' must be between",
         _cli(lambda c: ["train", "--model", "cae", "--dataset", "digits", "--latent-dim", "100000000"])),
    Case("cli-train-huge-widths", "cli", r"'widths' must be between 1 and 512",
         _cli(lambda c: ["train", "--model", "cae", "--dataset", "digits", "--set", "widths=[100000,100000]"])),
    Case("cli-train-huge-hidden", "cli", r"parameters, more than the limit",
         _cli(lambda c: ["train", "--model", "ae", "--dataset", "digits", "--set", "hidden=[4096,4096,4096,4096]"])),
    Case("cli-train-gan-encode-steps", "cli", r"'encode_steps' must be between",
         _cli(lambda c: ["train", "--model", "gan", "--dataset", "digits", "--set", "encode_steps=1e12"])),
    Case("cli-train-beta-1e400", "cli", r"'beta' must be a finite number",
         _cli(lambda c: ["train", "--model", "vae", "--dataset", "digits", "--set", "beta=1e400"])),
    Case("cli-train-widths-infinite", "cli", r"must be a list of integers",
         _cli(lambda c: ["train", "--model", "cae", "--dataset", "digits", "--set", "widths=[1e999]"])),
    Case("cli-train-missing-file", "cli", r"File not found",
         _cli(lambda c: ["train", "--model", "ae", "--dataset", f"npz:{c.root}/nope.npz"])),
    Case("cli-train-empty-spec", "cli", r"needs a path", _cli(lambda c: ["train", "--model", "ae", "--dataset", "npz:"])),
    Case("cli-train-unknown-dataset", "cli", r"Unknown dataset",
         _cli(lambda c: ["train", "--model", "ae", "--dataset", "imagenet"])),
    Case("cli-train-npz-bomb", "cli", r"zip bomb",
         _cli(lambda c: ["train", "--model", "ae", "--dataset", "npz:" + _npz_file(
             c, "cli-bomb.npz", zip_of_zeros("x.npy", 60 * 2**20, npy_header("|u1", (15360, 64, 64))))])),
    Case("cli-compare-2000-classes", "cli", r"2,000 different classes",
         _cli(lambda c: ["compare", "--dataset", "npz:" + _npz_file(
             c, "many-classes.npz", npz(x=digits_like(4000), y=np.arange(4000) % 2000)), "--seeds", "1"])),
    Case("cli-eval-zip-traversal", "cli", r"unsafe path",
         _cli(lambda c: ["eval", "--run", str(c.good), "--dataset", "zip:" + _npz_file(
             c, "trav.zip", image_zip({"../x.png": GOOD_DIGITS(1)[0]}))])),
    Case("cli-project-out-is-a-folder", "cli", r"is a folder", _cli(_cli_project_out_dir)),
    Case("cli-project-out-missing-folder", "cli", r"does not exist",
         _cli(lambda c: ["project", "--run", str(c.good), "--method", "pca", "--out", f"{c.root}/no/such/x.csv"])),
    Case("cli-project-limit-0", "cli", r"--limit must be at least 1",
         _cli(lambda c: ["project", "--run", str(c.good), "--method", "pca", "--limit", "0", "--out", "x.csv"])),
    Case("cli-eval-missing-run", "cli", r"no run at", _cli(lambda c: ["eval", "--run", "no-such-run"])),
    Case("cli-eval-gan-hang-run", "cli", r"'encode_steps' must be between", _cli(lambda c: _gan_hang_folder(c))),
    Case("cli-compare-seeds-0", "cli", r"--seeds", _cli(lambda c: ["compare", "--dataset", "digits", "--seeds", "0"])),
    Case("cli-bad-limit-variable", "cli", r"LATENT_LAB_MAX_MODEL_PARAMS must be a positive number",
         _cli(lambda c: ["train", "--model", "ae", "--dataset", "digits", "--max-steps", "1"]),
         env={"LATENT_LAB_MAX_MODEL_PARAMS": "-3"}),

    # ---- an uploaded run naming a server file as its dataset: imported, but the file is never opened
    Case("run-dataset-names-a-server-file", "import_then_eval", r"only described", _import_then_eval),
]


def npz_member(arr: np.ndarray) -> bytes:
    """The .npy bytes numpy would store for ``arr`` inside an .npz."""
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def _json_bomb_zip(ctx: Ctx) -> bytes:
    """A 300 MB run.json (mostly spaces) deflated to about 300 KB, next to real weights."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        with z.open("run.json", "w", force_zip64=True) as f:
            f.write(json.dumps(ctx.good_meta())[:-1].encode())
            chunk = b" " * (1 << 20)
            for _ in range(300):
                f.write(chunk)
            f.write(b"}")
        z.writestr("model.safetensors", ctx.good_weights())
    return buf.getvalue()


def _gan_hang_folder(ctx: Ctx) -> list[str]:
    spec = run_folder(ctx, "cli-gan-hang", lambda m: m.update(model="gan", config={"latent_dim": 4,
                                                                                  "encode_steps": 10**9}))
    return ["eval", "--run", spec["folder"], "--dataset", "digits"]


CASE_IDS = [c.id for c in CASES]


# --------------------------------------------------------------------------- building (in the test process)


def make_good_run(runs: Path) -> Path:
    """A small untrained CAE for 8x8 digits, saved as the run every case must leave byte-identical."""
    import torch

    from core.models import build_model
    from core.store import save_run
    torch.manual_seed(0)
    model = build_model("cae", {"latent_dim": 4, "widths": [8, 16]}, (1, 8, 8))
    return save_run(model, dataset="digits", train_config={"epochs": 1}, result={"seconds": 1.0},
                    metrics={"recon_bce": 0.5, "recon_mse": 0.1, "n": 360}, path=runs / "good-cae")


def build(root: Path) -> Path:
    """Build every case's input under ``root`` (the sandbox) and write the manifest; returns its path."""
    ctx = Ctx(root)
    for d in (ctx.inputs, ctx.runs, root / "home" / "data", root / "cwd"):
        d.mkdir(parents=True, exist_ok=True)
    make_good_run(ctx.runs)
    manifest = []
    for case in CASES:
        manifest.append({"id": case.id, "channel": case.channel, "needle": case.needle, "env": case.env or {},
                         **case.make(ctx)})
    path = root / "manifest.json"
    path.write_text(json.dumps(manifest))
    return path


def run_worker(root: Path, timeout: float = 900) -> dict[str, dict[str, Any]]:
    """Run every built case in one fresh worker process; returns the records by case id."""
    env = {**os.environ, "LATENT_LAB_HOME": str(root / "home" / "runs"),
           "LATENT_LAB_DATA": str(root / "home" / "data"), "PYTHONPATH": str(ROOT)}
    for name in list(env):
        if name.startswith("LATENT_LAB_MAX") or name.startswith("LATENT_LAB_UPLOADS"):
            del env[name]  # the defaults are what is tested (cases set their own)
    proc = subprocess.run([sys.executable, "-m", "tests.unit.hostile_cases", str(root)], cwd=root / "cwd",
                          env=env, capture_output=True, text=True, timeout=timeout)
    records = {}
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            rec = json.loads(line)
            records[rec.get("id", "_worker")] = rec  # the first line is the worker's own warm-up peak
    if proc.returncode != 0 or len(records) != len(CASES) + 1:
        raise RuntimeError(f"the hostile worker failed (exit {proc.returncode}, {len(records)} of {len(CASES)} "
                           f"cases):\n{proc.stderr[-4000:]}")
    return records


# --------------------------------------------------------------------------- the worker (a fresh process)


class _Timeout(Exception):
    pass


def _on_alarm(signum: int, frame: Any) -> None:
    raise _Timeout()


def _snapshot(root: Path) -> dict[str, str]:
    """relative path -> sha256 of every file under the sandbox except the inputs."""
    out = {}
    for dirpath, _, files in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        if rel.parts[:1] == ("inputs",):
            continue
        for f in files:
            p = Path(dirpath) / f
            out[str(rel / f)] = sha256(p.read_bytes()).hexdigest()
    return out


def _peak_mb() -> float:
    """This process's peak resident memory in MB.

    VmHWM is the high-water mark of the process's own memory since exec. ru_maxrss is not:
    Linux folds the parent's high-water mark into a child's at exec, so a worker started from
    a 1.3 GB pytest process would report 1.3 GB before doing anything. ru_maxrss is the
    fallback where /proc is missing.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def _call_cli(argv: list[str]) -> tuple[int, str, str]:
    from core.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(argv)
        except SystemExit as e:  # argparse
            rc = int(e.code or 0)
    return rc, out.getvalue(), err.getvalue()


def _run_case(entry: dict[str, Any], root: Path) -> dict[str, Any]:
    """Feed one case to its entry point; the record says what happened."""
    from core.datasets import DatasetError, dataset_from_upload
    from core.run_share import import_run
    from core.store import RunError, delete_run, list_runs, load_run

    rec: dict[str, Any] = {"id": entry["id"], "channel": entry["channel"], "needle": entry["needle"],
                           "outcome": "accepted", "message": "", "stdout": "", "stderr": "", "checks": {}}
    ch = entry["channel"]
    if ch == "upload":
        try:
            dataset_from_upload(entry["name"], Path(entry["file"]).read_bytes())
        except DatasetError as e:
            rec["outcome"], rec["message"] = "refused", str(e)
    elif ch == "run_upload":
        try:
            import_run(Path(entry["file"]).read_bytes())
        except RunError as e:
            rec["outcome"], rec["message"] = "refused", str(e)
    elif ch == "cli":
        rc, out, err = _call_cli(entry["argv"])
        rec["stdout"], rec["stderr"], rec["rc"] = out, err, rc
        if rc == 2 and err.startswith("error: "):
            rec["outcome"], rec["message"] = "refused", err.strip()[len("error: "):]
        else:
            rec["outcome"] = f"exit {rc}"
    elif ch == "run_folder":
        folder = Path(entry["folder"])
        try:
            load_run(folder)
        except RunError as e:
            rec["outcome"], rec["message"] = "refused", str(e)
        listed = {m["id"]: m for m in list_runs()}  # must not raise, whatever the folder holds
        rec["checks"]["listed_as_damaged"] = "error" in listed.get(folder.name, {})
        rec["checks"]["good_run_still_listed"] = "error" not in listed.get("good-cae", {"error": 1})
        rc, out, err = _call_cli(["runs"])
        rec["checks"]["cli_runs_ok"] = rc == 0 and "Traceback" not in err and json.loads(out)["runs"] != []
        rec["stderr"] = err
        try:
            delete_run(folder)
            rec["checks"]["deleted"] = not folder.exists()
        except RunError as e:
            rec["checks"]["deleted"] = False
            rec["checks"]["delete_refused"] = str(e)
        rec["checks"]["deletable_expected"] = entry["deletable"]
    elif ch == "import_then_eval":
        import core.datasets.files as files
        opened: list[str] = []
        real = files._load_path

        def spy(kind: str, path: Path, **kw: Any) -> Any:
            opened.append(str(path))
            return real(kind, path, **kw)
        files._load_path = spy
        try:
            path = import_run(Path(entry["file"]).read_bytes())
            rc, out, err = _call_cli(["eval", "--run", str(path)])
            rec["stdout"], rec["stderr"], rec["rc"] = out, err, rc
            if rc == 2 and err.startswith("error: "):
                rec["outcome"], rec["message"] = "refused", err.strip()[len("error: "):]
            rec["checks"]["imported_marked"] = json.loads((path / "run.json").read_text()).get("imported") is True
            delete_run(path)
        finally:
            files._load_path = real
        rec["checks"]["secret_never_opened"] = entry["secret"] not in opened
    return rec


def worker(root: Path) -> None:
    """Run every case of the manifest under ``root``, printing one JSON record per line."""
    manifest = json.loads((root / "manifest.json").read_text())
    # Import and warm everything first, so no case is charged for a first import.
    from core.cli import main  # noqa: F401
    from core.store import list_runs, load_run
    list_runs()
    load_run(root / "home" / "runs" / "good-cae")
    signal.signal(signal.SIGALRM, _on_alarm)
    base_env = dict(os.environ)
    print(json.dumps({"warm_peak_mb": round(_peak_mb(), 1)}), flush=True)
    for entry in manifest:
        os.environ.clear()
        os.environ.update({**base_env, **entry["env"]})
        before = _snapshot(root)
        own = entry.get("folder")
        t0, peak0 = time.perf_counter(), _peak_mb()
        signal.alarm(CASE_TIMEOUT_S)
        try:
            rec = _run_case(entry, root)
        except _Timeout:
            rec = {"id": entry["id"], "outcome": "timeout", "message": ""}
        except BaseException:  # noqa: BLE001 - what the suite exists to catch
            rec = {"id": entry["id"], "outcome": "crash", "message": "", "traceback": traceback.format_exc()}
        finally:
            signal.alarm(0)
        rec.setdefault("checks", {})
        rec["seconds"] = round(time.perf_counter() - t0, 3)
        rec["peak_mb"], rec["peak_before_mb"] = round(_peak_mb(), 1), round(peak0, 1)
        after = _snapshot(root)
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        if own and entry.get("deletable"):
            # The case's own damaged folder is expected to be gone (deleted as the Runs page would).
            prefix = str(Path(own).relative_to(root)) + os.sep
            changed = [k for k in changed if not k.startswith(prefix)]
        rec["changed_files"] = changed
        print(json.dumps(rec), flush=True)
    os.environ.clear()
    os.environ.update(base_env)


if __name__ == "__main__":
    worker(Path(sys.argv[1]))
