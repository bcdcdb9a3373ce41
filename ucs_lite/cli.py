"""``ucs-lite`` command line: protect, evaluate, compare, sweep, notebooks. Progress on stderr."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

__all__ = ["main"]


def _eps(v: str) -> float:
    from .noise import eps_from_255

    try:
        return eps_from_255(float(v))
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _pos_int(v: str) -> int:
    i = int(v)
    if i < 1:
        raise argparse.ArgumentTypeError(f"must be ≥ 1, got {v}")
    return i


def _write_json(path: str, obj: dict) -> None:
    from .data import atomic_write_bytes

    atomic_write_bytes(Path(path), json.dumps(obj, indent=2, default=float).encode())


def _parse_options(pairs: list[str]) -> dict:
    """``--opt key=value`` pairs -> dict, values parsed as JSON where possible (steps=40, param=pixel)."""
    out = {}
    for pr in pairs or []:
        k, sep, v = pr.partition("=")
        if not sep:
            raise SystemExit(f"error: --opt expects key=value, got {pr!r}")
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def cmd_protect(a: argparse.Namespace) -> int:
    from .data import load, save_npz
    from .protect import protect_bundle, protect_folder

    if a.input_dir:
        if not a.output_dir:
            raise SystemExit("error: --input-dir needs --output-dir")
        summary = protect_folder(a.input_dir, a.output_dir, eps=a.eps, p=a.clusters, seed=a.seed,
                                 surrogate=a.surrogate, work_size=a.work_size, overwrite=a.overwrite,
                                 device=a.device, progress=not a.quiet, **_parse_options(a.opt))
        print(json.dumps({k: v for k, v in summary.items() if k != "skipped"} | {"skipped": len(summary["skipped"])}))
        return 0
    if not a.data or not a.out:
        raise SystemExit("error: give --data IN.npz --out OUT.npz (or --input-dir/--output-dir)")
    out = Path(a.out)
    if out.exists() and not a.overwrite:
        raise SystemExit(f"error: {out} exists; choose another --out or pass --overwrite")
    if Path(a.data).resolve() == out.resolve():
        raise SystemExit("error: --out must differ from --data (inputs are never overwritten)")
    bundle = load(a.data)
    prot, pert = protect_bundle(bundle, a.method, eps=a.eps, seed=a.seed, labels=a.labels, surrogate=a.surrogate,
                                p=a.clusters, device=a.device, progress=not a.quiet, **_parse_options(a.opt))
    save_npz(prot, out)
    if a.save_perturbation:
        pert.save(a.save_perturbation)
    meta = prot.meta()
    print(json.dumps({k: meta[k] for k in ("method", "eps_255", "p", "surrogate", "seed", "psnr", "ssim", "seconds")
                      if k in meta} | {"out": str(out)}))
    return 0


def cmd_evaluate(a: argparse.Namespace) -> int:
    from .attack import AttackConfig, evaluate
    from .data import load

    out = Path(a.out) if a.out else None
    if out and out.exists() and not a.overwrite:
        raise SystemExit(f"error: {out} exists; choose another --out or pass --overwrite")
    bundle = load(a.data)
    cfg = AttackConfig(model=a.model, epochs=a.epochs, seed=a.seed, augment=a.augment, defense=a.defense,
                       device=a.device, batch_size=a.batch_size, lr=a.lr)
    res = evaluate(bundle, labels=a.labels, config=cfg, progress=not a.quiet)
    res["data"] = str(a.data)
    if out:
        _write_json(str(out), res)
    print(json.dumps({k: res[k] for k in ("method", "labels", "n_classes", "chance", "test_acc_final",
                                           "test_acc_peak", "seconds")}))
    return 0


def cmd_compare(a: argparse.Namespace) -> int:
    from .data import load
    from .experiment import compare

    bundle = load(a.data)
    if a.train_size:
        bundle.train = bundle.train.balanced_subset(a.train_size, seed=a.seed)
    if a.test_size:
        bundle.test = bundle.test.balanced_subset(a.test_size, seed=a.seed)
    table = compare(bundle, methods=a.methods.split(","), views=a.labels.split(","), epochs=a.epochs,
                    seeds=[int(s) for s in a.seeds.split(",")], model=a.model, eps=a.eps, p=a.clusters,
                    surrogate=a.surrogate, device=a.device, defenses=a.defenses.split(","), progress=not a.quiet)
    print(table.to_markdown(index=False) if hasattr(table, "to_markdown") else table.to_string(index=False))
    if a.out:
        _write_json(a.out, {"rows": table.to_dict(orient="records")})
    return 0


def cmd_demo(a: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(a.data, a.out_root, epochs=a.epochs, surrogate=a.surrogate, device=a.device, seed=a.seed,
             progress=not a.quiet)
    return 0


def cmd_notebooks(a: argparse.Namespace) -> int:
    from .notebooks import run_notebooks

    params = {}
    for name, value in a.p or []:
        try:
            params[name] = json.loads(value)
        except json.JSONDecodeError:
            params[name] = value
    summary = run_notebooks(a.names.split(",") if a.names else None, params=params, out_root=a.out_root)
    print(json.dumps(summary, indent=2, default=str))
    return 0 if all(s["ok"] for s in summary["notebooks"]) else 1


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .attack import ATTACKERS
    from .noise import METHODS
    from .surrogates import DEFAULT_SURROGATE

    ap = argparse.ArgumentParser(prog="ucs-lite", description="Label-agnostic unlearnable examples (Unlearnable Clusters).")
    ap.add_argument("--version", action="version", version=f"ucs_lite {__version__}")
    sub = ap.add_subparsers(dest="cmd", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--quiet", action="store_true", help="no progress bars")
        p.add_argument("--overwrite", action="store_true", help="allow replacing an existing output")

    p = sub.add_parser("protect", help="craft noise and write the protected copy")
    p.add_argument("--data", help="input .npz bundle, or sample | shared | cifar10 | cifar100")
    p.add_argument("--out", help="output .npz bundle")
    p.add_argument("--input-dir", help="folder of images to protect (native sizes kept)")
    p.add_argument("--output-dir", help="where protected PNGs go (never the input folder)")
    p.add_argument("--method", default="uc", choices=METHODS)
    p.add_argument("--surrogate", default=DEFAULT_SURROGATE)
    p.add_argument("--clusters", type=_pos_int, default=10, help="p, the number of K-means clusters")
    p.add_argument("--eps", type=_eps, default=16 / 255, help="L∞ bound in 0–255 units (default 16)")
    p.add_argument("--labels", default="fine", help="the protector's label view (label-based methods only)")
    p.add_argument("--work-size", type=_pos_int, default=64, help="crafting resolution for --input-dir")
    p.add_argument("--save-perturbation", help="also write the Perturbation artefact here (.npz)")
    p.add_argument("--opt", action="append", metavar="KEY=VALUE", help="method option, e.g. steps=40")
    common(p)
    p.set_defaults(func=cmd_protect)

    p = sub.add_parser("evaluate", help="train an attacker on a (protected) bundle, report clean test accuracy")
    p.add_argument("--data", required=True)
    p.add_argument("--labels", default="fine", help="same | fine | coarse | regroup:n:seed")
    p.add_argument("--model", default="small-cnn", choices=ATTACKERS)
    p.add_argument("--epochs", type=_pos_int, default=12)
    p.add_argument("--batch-size", type=_pos_int, default=128)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True, help="random crop + flip")
    p.add_argument("--defense", default="none", help="none | jpeg:Q | grayscale | blur:σ | cutout | mixup | "
                                                      "strong-aug | adv-train:ε (combine with +)")
    p.add_argument("--out", help="result JSON")
    common(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("compare", help="clean vs protected for several methods × label views (× defenses)")
    p.add_argument("--data", default="sample")
    p.add_argument("--methods", default="clean,random-class,uc")
    p.add_argument("--labels", default="fine,coarse")
    p.add_argument("--defenses", default="none")
    p.add_argument("--model", default="small-cnn", choices=ATTACKERS)
    p.add_argument("--epochs", type=_pos_int, default=12)
    p.add_argument("--seeds", default="0", help="attacker seeds, comma-separated")
    p.add_argument("--train-size", type=int, default=0)
    p.add_argument("--test-size", type=int, default=0)
    p.add_argument("--surrogate", default=DEFAULT_SURROGATE)
    p.add_argument("--clusters", type=_pos_int, default=10)
    p.add_argument("--eps", type=_eps, default=16 / 255)
    p.add_argument("--out", help="JSON of the table")
    common(p)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("demo", help="protect the embedded sample and attack it (outputs under runs/)")
    p.add_argument("--data", default="sample")
    p.add_argument("--epochs", type=_pos_int, default=12)
    p.add_argument("--surrogate", default=DEFAULT_SURROGATE)
    p.add_argument("--out-root", default="runs")
    common(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("notebooks", help="execute the notebooks with papermill into runs/<timestamp>/")
    p.add_argument("names", nargs="?", help="comma-separated notebook names (default: all)")
    p.add_argument("-p", nargs=2, action="append", metavar=("NAME", "VALUE"), help="parameter override")
    p.add_argument("--out-root", default="runs")
    p.set_defaults(func=cmd_notebooks)
    return ap


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ucs-lite`` command."""
    from .data import DataError
    from .surrogates import SurrogateUnavailable

    args = build_parser().parse_args(argv)
    threads = os.environ.get("UCS_LITE_THREADS")
    if threads:
        import torch

        torch.set_num_threads(int(threads))
    try:
        return args.func(args)
    except (DataError, SurrogateUnavailable, ValueError, FileNotFoundError, KeyError) as e:
        msg = str(e).strip("'\"")
        print(f"ucs-lite: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ucs-lite: interrupted (outputs are written atomically: nothing half-written was left)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
