"""The command line: python -m core train | eval | project | compare | probe | anomaly | runs.

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

from .anomaly import SCORES, AnomalyConfig, anomaly_families, parse_normal, run_anomaly, run_benchmark
from .anomaly import Progress as AnomalyProgress
from .codes import encode_split
from .compare import (LABEL_LEVELS, MAX_SEEDS, VARIANTS, CompareConfig, Progress, parse_level,
                      run_comparison, run_sweep)
from .datasets import DEFAULT_DATASET, DatasetError, check_fits, load_dataset
from .exports import export_csv
from .models import MODELS, ConfigError, get_spec
from .pipeline import default_train_config, evaluate, resume_run, train_and_save
from .probe import LEVELS, probe
from .projection import METHOD_TITLES, METHODS, Projector
from .limits import LimitError
from .store import RunError, check_out_path, followable_dataset, list_runs, load_run, read_meta, runs_root


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
    """`python -m core train`: train a model (or resume an interrupted one), save it as a run, print its metrics."""
    if a.resume:
        run, model, result, metrics = resume_run(a.resume, on_event=ProgressBar("resume"))
        return _train_summary(run, model.name, read_meta(run)["dataset"], result, metrics)
    if not a.model:
        raise CLIError("give --model (one of: " + ", ".join(MODELS) + "), or --resume RUN")
    values = parse_set(a.set)
    if a.latent_dim is not None:
        if not get_spec(a.model).is_latent:
            raise CLIError(f"--latent-dim does not apply to {a.model}")
        values["latent_dim"] = a.latent_dim
    cfg = default_train_config(a.model, seed=a.seed, max_steps=a.max_steps, device=a.device,
                               preview_every=0)
    cfg = replace(cfg, **{k: v for k, v in (("epochs", a.epochs), ("batch_size", a.batch_size),
                                             ("lr", a.lr), ("threads", a.threads)) if v is not None})
    if a.out is not None:
        name = Path(a.out).name
        if not name or any(not ch.isprintable() for ch in a.out):
            raise CLIError(f"--out {a.out!r} is not a usable folder name (empty, or with a newline or "
                           "control character)")
        check_out_path(a.out, replace=a.force)  # before any work: never over a folder that is not a run
    run, _, result, metrics = train_and_save(a.model, values, a.dataset, cfg, on_event=ProgressBar(a.model),
                                             path=a.out, replace=a.force)
    return _train_summary(run, a.model, a.dataset, result, metrics)


def _train_summary(run: Path, model: str, dataset: str, result: Any, metrics: dict[str, Any]) -> dict[str, Any]:
    """The train command's JSON line."""
    if result.status == "diverged":
        print(f"warning: {result.reason}", file=sys.stderr)
    return {"run": str(run), "model": model, "dataset": dataset, "status": result.status,
            "steps": result.steps, "train_seconds": round(result.seconds, 2),
            "images_per_sec": round(result.images_per_sec, 1), "threads": result.threads,
            **{f"train_{k}": round(v, 5) for k, v in result.final_losses.items()},
            **_round(metrics)}


def _round(d: dict[str, Any]) -> dict[str, Any]:
    """Floats rounded to 5 places, for the JSON line."""
    return {k: round(v, 5) if isinstance(v, float) else v for k, v in d.items()}


def cmd_eval(a: argparse.Namespace) -> dict[str, Any]:
    """`python -m core eval`: score a saved run on a dataset split."""
    run = load_run(a.run)
    ds = load_dataset(a.dataset or followable_dataset(run.meta))
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
    out = Path(a.out)
    if out.is_dir():
        raise CLIError(f"--out {a.out} is a folder; give the path of the CSV file to write")
    if not out.parent.is_dir():
        raise CLIError(f"the folder {out.parent} for --out does not exist")
    if a.limit is not None and a.limit < 1:
        raise CLIError(f"--limit must be at least 1, got {a.limit}")
    run = load_run(a.run)
    if not get_spec(run.meta["model"]).is_latent:
        raise CLIError(f"{a.run} is a {run.meta['model']} classifier run; projections need a latent "
                       f"model ({', '.join(n for n, s in MODELS.items() if s.is_latent)})")
    ds = load_dataset(a.dataset or followable_dataset(run.meta))
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




def cmd_probe(a: argparse.Namespace) -> dict[str, Any]:
    """`python -m core probe`: logistic regression and k-NN on a run's codes vs raw pixels vs PCA."""
    run = load_run(a.run)
    spec = get_spec(run.meta["model"])
    if not spec.is_latent or spec.approximate_encoder:
        raise CLIError(f"{a.run} is {spec.noun}: probing needs a model with an encoder "
                       f"({', '.join(n for n, s in MODELS.items() if s.is_latent and not s.approximate_encoder)})")
    if not 1 <= a.draws <= 20:
        raise CLIError("--draws must be between 1 and 20")
    ds = load_dataset(a.dataset or run.dataset)
    check_fits(ds, run.model.shape, what="the run")
    ev = None
    if a.eval_dataset:
        ev = load_dataset(a.eval_dataset)
        check_fits(ev, run.model.shape, what="the run")
    out = probe(run.model, ds, ev, levels=LEVELS, draws=a.draws, seed=a.seed,
                progress=lambda stage, frac: print(f"  {stage}...", file=sys.stderr))
    return {"run": str(run.path), "model": run.meta["model"], "dataset": ds.spec, **out}


def _add_probe(subparsers: Any) -> None:
    """The `probe` sub-command."""
    p = subparsers.add_parser("probe", help="how good a run's codes are as features for recognition",
                              description="Fit a logistic regression and a k-NN classifier on the codes of the "
                                          "labeled training images (1, 5, 10, 50 labels per class and all) and "
                                          "on raw pixels and PCA of the same size; print one JSON line.")
    p.add_argument("--run", required=True, help="run folder or id")
    p.add_argument("--dataset", help="labeled dataset to fit on (default: the run's own)")
    p.add_argument("--eval-dataset", help="score on all of this dataset spec instead of the test split")
    p.add_argument("--draws", type=int, default=3, help="label draws per level below all (default 3)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(fn=cmd_probe)


def cmd_anomaly(a: argparse.Namespace) -> dict[str, Any]:
    """`python -m core anomaly`: train on the normal images only, score the rest, print the AUC(s)."""
    values = parse_set(a.set)
    if a.latent_dim is not None:
        values["latent_dim"] = a.latent_dim
    cfg = AnomalyConfig(a.dataset, None, a.model, values, a.eval_dataset, a.seed, a.epochs, score=a.score,
                        device=a.device)
    benchmark = a.normal is not None and a.normal.strip().lower() == "all"
    if not benchmark:
        ds = load_dataset(a.dataset)
        if a.normal is not None:
            cfg = replace(cfg, normal=parse_normal(ds, a.normal))
        elif a.eval_dataset is None:
            raise CLIError("give --normal CLASS[,CLASS] (or 'all' for the one-class benchmark), or leave it out "
                           "and give --eval-dataset: every image of --dataset is then normal and those are suspects")
    elif a.eval_dataset is not None:
        raise CLIError("--normal all runs the one-class benchmark on the test split; leave out --eval-dataset")
    cfg.validate()
    bars: list[tqdm] = []  # made at the first report, so bad input fails without a bar

    def on_progress(p: AnomalyProgress) -> None:
        if not bars:
            bars.append(tqdm(total=1000, desc="anomaly", unit="‰", file=sys.stderr, dynamic_ncols=True,
                             mininterval=0.5, bar_format="{l_bar}{bar}| {elapsed}<{remaining}"))
        bars[0].update(int(p.fraction * 1000) - bars[0].n)
        bars[0].set_description(f"normal {p.normal}: {p.stage}", refresh=False)

    try:
        if benchmark:
            return run_benchmark(cfg, on_progress).summary()
        return run_anomaly(cfg, on_progress, keep_model=False).summary()
    finally:
        for bar in bars:
            bar.close()


def _add_anomaly(subparsers: Any) -> None:
    """The `anomaly` sub-command."""
    p = subparsers.add_parser("anomaly", help="anomaly detection: train on normal images, score the rest",
                              description="Train an autoencoder on the normal class(es) only, score every "
                                          "test image by how badly it is rebuilt, and print the ROC AUC as one "
                                          "JSON line. --normal all runs the one-class benchmark (each class in "
                                          "turn normal; Ruff et al. 2018).")
    p.add_argument("--dataset", default=DEFAULT_DATASET, help="dataset spec (default mnist5k)")
    p.add_argument("--normal", metavar="CLASS[,CLASS]|all",
                   help="the normal class(es) by index or name; 'all': the one-class benchmark; left out: "
                        "every image of --dataset is normal and --eval-dataset holds the suspects")
    p.add_argument("--model", default="cae", choices=anomaly_families())
    p.add_argument("--eval-dataset", help="suspects to score (all counted anomalous, mixed with the normal test "
                                          "images), or a labeled dataset with the same classes to score on")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=AnomalyConfig.epochs)
    p.add_argument("--score", default=AnomalyConfig.score, choices=list(SCORES),
                   help="the headline score (roc_auc); every available score is in 'scores'")
    p.add_argument("--latent-dim", type=int)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="model option, e.g. --set beta=4")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.set_defaults(fn=cmd_anomaly)


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
    p.add_argument("--pseudo", type=float, help="weight of the pseudo-label term (default 1; 0 = off)")
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
    t.add_argument("--model", choices=list(MODELS))
    t.add_argument("--resume", metavar="RUN", help="continue an interrupted run (folder or id) from its checkpoint")
    t.add_argument("--dataset", default=DEFAULT_DATASET,
                   help="mnist5k | digits | mnist | fashion-mnist | kmnist | cifar10 | npz:PATH | zip:PATH | folder:PATH")
    t.add_argument("--epochs", type=int)
    t.add_argument("--latent-dim", type=int)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--lr", type=float)
    t.add_argument("--max-steps", type=int)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, metavar="N",
                   help="CPU threads to train on (default: picked for the machine; a fixed count repeats a seeded "
                        "run to the last digit on this machine, alone or beside other trainings)")
    t.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="model option, e.g. --set beta=4")
    t.add_argument("--out", help="run folder (default: a new folder under $LATENT_LAB_HOME or ./runs); "
                   "an existing folder is refused unless it is a run and --force is given")
    t.add_argument("--force", action="store_true", help="replace the run already at --out")
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
    _add_probe(sub)
    _add_anomaly(sub)
    return p


def _one_line(e: BaseException) -> str:
    """An error's message on one line (a message never spans lines in a terminal log)."""
    return " ".join(str(e).split()) or type(e).__name__


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        out = args.fn(args)
    except (CLIError, DatasetError, ConfigError, RunError, LimitError, ValueError) as e:
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return 2
    except OSError as e:  # a file the command had to read or write: say which, and why
        where = f" ({e.filename})" if getattr(e, "filename", None) else ""
        print(f"error: {e.strerror or e}{where}", file=sys.stderr)
        return 2
    except MemoryError:
        print("error: out of memory; use a smaller dataset, model or --limit", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    print(json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
