"""The command line: python -m core train | eval | project | compare | runs.

Progress goes to stderr (a tqdm bar); the result is one JSON line on stdout,
so scripts can read it. Bad input ends with a one-line message and exit code
2, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from .codes import encode_split
from .compare import (LABEL_LEVELS, MAX_SEEDS, VARIANTS, CompareConfig, Progress, parse_level,
                      run_comparison, run_sweep)
from .datasets import DEFAULT_DATASET, DatasetError, check_fits, load_dataset
from .exports import export_csv
from .models import MODELS, ConfigError, get_spec
from .pipeline import default_train_config, evaluate, train_and_save
from .projection import METHOD_TITLES, METHODS, Projector
from .store import RunError, list_runs, load_run, runs_root


class CLIError(Exception):
    """A user error: printed as one line, exit code 2."""


def parse_set(items: list[str]) -> dict[str, Any]:
    """'key=value' pairs -> dict, values parsed as JSON when they can be (3, 0.1, [32,64], true)."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise CLIError(f"--set takes key=value, got {item!r}")
        k, v = item.split("=", 1)
        try:
            out[k.strip().replace("-", "_")] = json.loads(v)
        except json.JSONDecodeError:
            out[k.strip().replace("-", "_")] = v
    return out


class ProgressBar:
    """An engine callback drawing a tqdm bar with the live loss."""

    def __init__(self, desc: str = "train"):
        self.bar: tqdm | None = None
        self.desc = desc

    def __call__(self, e: Any) -> None:
        if self.bar is None:
            self.bar = tqdm(total=e.total_steps, desc=self.desc, unit="step", file=sys.stderr,
                            dynamic_ncols=True, mininterval=0.5)
        if e.kind == "step":
            self.bar.update(e.step - self.bar.n)
            if e.step % 10 == 0:
                self.bar.set_postfix({k: f"{v:.4f}" for k, v in list(e.losses.items())[:3]},
                                     refresh=False)
        elif e.kind == "end":
            self.bar.close()


def cmd_train(a: argparse.Namespace) -> dict[str, Any]:
    """`python -m core train`: train a model, save it as a run, print its metrics."""
    values = parse_set(a.set)
    if a.latent_dim is not None:
        if not get_spec(a.model).is_latent:
            raise CLIError(f"--latent-dim does not apply to {a.model}")
        values["latent_dim"] = a.latent_dim
    cfg = default_train_config(a.model, seed=a.seed, max_steps=a.max_steps, device=a.device,
                               preview_every=0)
    cfg = replace(cfg, **{k: v for k, v in (("epochs", a.epochs), ("batch_size", a.batch_size),
                                             ("lr", a.lr)) if v is not None})
    run, _, result, metrics = train_and_save(a.model, values, a.dataset, cfg, on_event=ProgressBar(a.model),
                                             path=a.out)
    if result.status == "diverged":
        print(f"warning: {result.reason}", file=sys.stderr)
    return {"run": str(run), "model": a.model, "dataset": a.dataset, "status": result.status,
            "steps": result.steps, "train_seconds": round(result.seconds, 2),
            "images_per_sec": round(result.images_per_sec, 1),
            **{f"train_{k}": round(v, 5) for k, v in result.final_losses.items()},
            **_round(metrics)}


def _round(d: dict[str, Any]) -> dict[str, Any]:
    """Floats rounded to 5 places, for the JSON line."""
    return {k: round(v, 5) if isinstance(v, float) else v for k, v in d.items()}


def cmd_eval(a: argparse.Namespace) -> dict[str, Any]:
    """`python -m core eval`: score a saved run on a dataset split."""
    run = load_run(a.run)
    ds = load_dataset(a.dataset or run.dataset)
    check_fits(ds, run.model.shape, run.model.n_classes if run.model.family == "classifier" else 0,
               what="the run")
    if a.iw_samples is not None and not 1 <= a.iw_samples <= 10_000:
        raise CLIError("--iw-samples must be between 1 and 10,000")
    if a.iw_samples is not None and not callable(getattr(run.model, "likelihood", None)):
        raise CLIError(f"--iw-samples applies to VAE runs; {a.run} is a {run.meta['model']} run")
    return _round(evaluate(run.model, ds, a.split, iw_samples=a.iw_samples))


def cmd_runs(a: argparse.Namespace) -> dict[str, Any]:
    """`python -m core runs`: list the saved runs (a table on stderr, JSON on stdout)."""
    runs = list_runs(a.root)
    if not a.json:
        root = a.root or runs_root()
        if not runs:
            print(f"no runs under {root}", file=sys.stderr)
        for m in runs:
            if "error" in m:
                print(f"{m['id']:<45} DAMAGED: {m['error']}", file=sys.stderr)
                continue
            met = ", ".join(f"{k}={v:.4g}" for k, v in m.get("metrics", {}).items()
                            if isinstance(v, float))
            print(f"{m['id']:<45} {m['model']:<7} {m['dataset']:<12} {m.get('status', ''):<9} {met}",
                  file=sys.stderr)
    keep = ("id", "model", "dataset", "status", "metrics", "created", "error")
    return {"runs": [{k: m[k] for k in keep if k in m} for m in runs]}


def cmd_project(a: argparse.Namespace) -> dict[str, Any]:
    """`python -m core project`: encode a split with a run, project, write a CSV."""
    t0 = time.perf_counter()
    run = load_run(a.run)
    if not get_spec(run.meta["model"]).is_latent:
        raise CLIError(f"{a.run} is a {run.meta['model']} classifier run; projections need a latent "
                       f"model ({', '.join(n for n, s in MODELS.items() if s.is_latent)})")
    ds = load_dataset(a.dataset or run.dataset)
    check_fits(ds, run.model.shape, what="the run")
    x, y = ds.split(a.split)
    if a.limit:
        x, y = x[:a.limit], (y[:a.limit] if y is not None else None)
    codes, errors = encode_split(run.model, x, with_errors=True)
    t_enc = time.perf_counter() - t0
    print(f"encoded {len(codes):,} {a.split} images in {t_enc:.2f} s", file=sys.stderr)

    last = {"stage": ""}

    def progress(stage: str, frac: float) -> None:
        if stage != last["stage"]:
            print(f"  {stage}...", file=sys.stderr)
            last["stage"] = stage

    t1 = time.perf_counter()
    proj = Projector(a.method, n_components=a.dim, n_neighbors=a.n_neighbors, min_dist=a.min_dist,
                     perplexity=a.perplexity, random_state=a.seed).fit(codes, progress=progress)
    t_proj = time.perf_counter() - t1
    print(f"{METHOD_TITLES[a.method]} of {len(codes):,} x {codes.shape[1]} codes in {t_proj:.2f} s",
          file=sys.stderr)
    labels = y.numpy() if y is not None else None
    out = Path(a.out)
    if out.parent and not out.parent.exists():
        raise ValueError(f"the folder {out.parent} does not exist")
    out.write_text(export_csv(codes, proj.embedding_, labels, errors, classes=ds.classes or None))
    return {"out": str(out), "n": len(codes), "method": a.method, "dim": a.dim,
            "split": a.split, "seconds": round(time.perf_counter() - t0, 3),
            "encode_seconds": round(t_enc, 3), "project_seconds": round(t_proj, 3)}




def cmd_compare(a: argparse.Namespace) -> dict[str, Any]:
    """`python -m core compare`: train both models, print a progress bar, return the JSON summary."""
    if a.seeds < 1 or a.seeds > MAX_SEEDS:
        raise ValueError(f"--seeds must be between 1 and {MAX_SEEDS}")
    options: dict[str, Any] = {"device": a.device}
    for name in ("entropy", "balance", "pseudo", "noise", "lr"):
        if getattr(a, name) is not None:
            options[name] = getattr(a, name)
    bars: list[tqdm] = []  # made at the first report, so bad input fails without a bar

    def on_progress(p: Progress) -> None:
        if not bars:
            bars.append(tqdm(total=1000, desc="compare", unit="‰", file=sys.stderr, dynamic_ncols=True,
                             mininterval=0.5, bar_format="{l_bar}{bar}| {elapsed}<{remaining}"))
        bar = bars[0]
        bar.update(int(p.fraction * 1000) - bar.n)
        if p.kind in ("eval", "model", "start"):
            acc = f" acc {p.accuracy:.3f}" if p.accuracy is not None else ""
            bar.set_description(f"{p.role or 'done'} seed {p.seed}{acc}", refresh=False)

    seeds = list(range(a.seed_start, a.seed_start + a.seeds))
    common = {"variant": a.variant, "lam": a.lam, "steps": a.budget_steps, "epochs": a.epochs,
              "eval_dataset": a.eval_dataset, "save": not a.no_save, "root": a.root, "on_progress": on_progress,
              **options}
    try:
        if a.sweep:
            levels = a.levels or list(LABEL_LEVELS)
            sweep = run_sweep(a.dataset, levels, seeds, **common)
            out: dict[str, Any] = {"sweep": sweep.rows(), "status": sweep.status, "dataset": a.dataset,
                                   "variant": a.variant, "lam": a.lam}
        else:
            out = run_comparison(a.dataset, a.labels_per_class, seeds, **common).summary()
    finally:
        for bar in bars:
            bar.close()
    return out




def _add_project(subparsers: Any) -> None:
    """The `project` sub-command."""
    p = subparsers.add_parser("project", help="encode a dataset split with a run and project the codes")
    p.add_argument("--run", required=True, help="run folder or id")
    p.add_argument("--dataset", help="dataset spec (default: the run's own)")
    p.add_argument("--method", default="umap", choices=list(METHODS))
    p.add_argument("--out", required=True, help="CSV file to write (codes, projection, labels, errors)")
    p.add_argument("--split", default="test", choices=["train", "test"])
    p.add_argument("--dim", type=int, default=2, choices=[2, 3])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-neighbors", type=int, default=15, help="UMAP neighbourhood size")
    p.add_argument("--min-dist", type=float, default=0.1, help="UMAP minimum distance")
    p.add_argument("--perplexity", type=float, default=30.0, help="t-SNE perplexity")
    p.add_argument("--limit", type=int, help="only the first N images of the split")
    p.set_defaults(fn=cmd_project)


def _add_compare(subparsers: Any) -> None:
    """The `compare` sub-command."""
    p = subparsers.add_parser("compare", help="hybrid (AE+CNN) vs plain CNN with few labels",
                              description="Train a plain CNN and the AE+CNN hybrid on the same labeled "
                                          "subset, per seed, and print their test accuracies as one JSON line.")
    p.add_argument("--dataset", default="mnist5k", help="dataset spec (default mnist5k)")
    p.add_argument("--labels-per-class", type=parse_level, default=10, metavar="N|all",
                   help="labeled training images per class; the rest are unlabeled (default 10)")
    p.add_argument("--seeds", type=int, default=3, help="number of seeds (label draws), default 3")
    p.add_argument("--seed-start", type=int, default=0, help="first seed (default 0)")
    p.add_argument("--eval-dataset", help="score on this dataset spec (e.g. npz:PATH) instead of the test split")
    p.add_argument("--variant", default="joint", choices=list(VARIANTS))
    p.add_argument("--lam", type=float, default=CompareConfig.lam, help="weight of the reconstruction term")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--budget-steps", type=int, help=f"optimiser steps per model (default {CompareConfig.steps})")
    budget.add_argument("--epochs", type=int, help="passes over the unlabeled images instead of a step budget")
    p.add_argument("--entropy", type=float, help=f"weight of entropy minimisation (default {CompareConfig.entropy})")
    p.add_argument("--balance", type=float,
                   help=f"class-balance part of the entropy term (default {CompareConfig.balance})")
    p.add_argument("--pseudo", type=float, help="weight of the pseudo-label term (default 0 = off)")
    p.add_argument("--noise", type=float, help="denoising input noise of the hybrid (default 0)")
    p.add_argument("--lr", type=float, help=f"learning rate (default {CompareConfig.lr})")
    p.add_argument("--sweep", action="store_true", help="run every labels-per-class level (1, 5, 10, 50, 100, all)")
    p.add_argument("--levels", type=parse_level, nargs="+", metavar="N|all", help="levels for --sweep")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--root", help="runs folder (default: $LATENT_LAB_HOME or ./runs)")
    p.add_argument("--no-save", action="store_true", help="do not save the trained models as runs")
    p.set_defaults(fn=cmd_compare)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m core", description="Latent Lab from the command line.")
    sub = p.add_subparsers(dest="cmd", required=True)

    t = sub.add_parser("train", help="train a model and save it as a run")
    t.add_argument("--model", required=True, choices=list(MODELS))
    t.add_argument("--dataset", default=DEFAULT_DATASET,
                   help="mnist5k | digits | mnist | fashion-mnist | kmnist | cifar10 | npz:PATH | zip:PATH | folder:PATH")
    t.add_argument("--epochs", type=int)
    t.add_argument("--latent-dim", type=int)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--lr", type=float)
    t.add_argument("--max-steps", type=int)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="model option, e.g. --set beta=4")
    t.add_argument("--out", help="run folder (default: a new folder under $LATENT_LAB_HOME or ./runs)")
    t.set_defaults(fn=cmd_train)

    e = sub.add_parser("eval", help="evaluate a saved run on a dataset")
    e.add_argument("--run", required=True)
    e.add_argument("--dataset", help="dataset spec (default: the run's own)")
    e.add_argument("--split", default="test", choices=["train", "test"])
    e.add_argument("--iw-samples", type=int, metavar="K",
                   help="importance samples per image for a VAE's nll_iw (default 16; more is tighter and slower)")
    e.set_defaults(fn=cmd_eval)

    r = sub.add_parser("runs", help="list saved runs")
    r.add_argument("--root", help="runs folder (default: $LATENT_LAB_HOME or ./runs)")
    r.add_argument("--json", action="store_true", help="only the JSON line")
    r.set_defaults(fn=cmd_runs)

    _add_project(sub)
    _add_compare(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        out = args.fn(args)
    except (CLIError, DatasetError, ConfigError, RunError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    print(json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
