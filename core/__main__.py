"""Command line: python -m core train | eval | project | compare | runs.

Progress goes to stderr (a tqdm bar); the result is one JSON line on stdout,
so scripts can read it. Bad input ends with a one-line message and exit code
2, never a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
from dataclasses import replace
from typing import Any

from tqdm import tqdm


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
    from .jobs import train_and_save
    from .presets import default_train_config
    from .models import get_spec
    values = parse_set(a.set)
    if a.latent_dim is not None:
        if get_spec(a.model).family != "latent":
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
    return {k: round(v, 5) if isinstance(v, float) else v for k, v in d.items()}


def cmd_eval(a: argparse.Namespace) -> dict[str, Any]:
    from .data import load_dataset
    from .jobs import evaluate
    from .store import load_run
    run = load_run(a.run)
    ds = load_dataset(a.dataset or run.dataset)
    if tuple(ds.shape) != tuple(run.model.shape):
        raise CLIError(f"the run was trained on {'x'.join(map(str, run.model.shape))} images but "
                       f"{a.dataset} has {'x'.join(map(str, ds.shape))}; pick a dataset of that shape")
    if run.model.family == "classifier" and ds.n_classes and ds.n_classes != run.model.n_classes:
        raise CLIError(f"the run classifies {run.model.n_classes} classes, {a.dataset} has {ds.n_classes}")
    return _round(evaluate(run.model, ds, a.split))


def cmd_runs(a: argparse.Namespace) -> dict[str, Any]:
    from .store import list_runs, runs_root
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


def build_parser() -> argparse.ArgumentParser:
    from .data import DEFAULT_DATASET
    from .models import MODELS
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
    e.set_defaults(fn=cmd_eval)

    r = sub.add_parser("runs", help="list saved runs")
    r.add_argument("--root", help="runs folder (default: $LATENT_LAB_HOME or ./runs)")
    r.add_argument("--json", action="store_true", help="only the JSON line")
    r.set_defaults(fn=cmd_runs)

    # Feature modules add their own sub-commands (project, compare).
    for mod in ("projection", "compare"):
        try:
            m = importlib.import_module(f".{mod}", __package__)
        except ModuleNotFoundError as err:
            if err.name != f"{__package__}.{mod}":
                raise
            continue
        if hasattr(m, "add_cli"):
            m.add_cli(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    from .data import DatasetError
    from .models import ConfigError
    from .store import RunError
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
