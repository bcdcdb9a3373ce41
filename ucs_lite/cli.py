"""``ucs-lite`` command line: protect, evaluate, compare, sweep, notebooks, cache. Progress on stderr.

Library imports happen inside the commands so that ``--help`` and argument errors answer without loading torch."""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from .errors import OptionError

__all__ = ["main", "CliError"]


class CliError(OptionError):
    """A wrong or conflicting command-line argument; printed as one ``ucs-lite: error: ...`` line (exit 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse, but errors raise :class:`CliError` (one line, exit 2) instead of printing the usage."""

    def error(self, message: str):  # noqa: D102
        raise CliError(f"{message} (see {self.prog} --help)")


def _eps(v: str) -> float:
    """``--eps`` in 0–255 units -> ε on the [0, 1] scale (0 < ε ≤ 64/255); torch-free."""
    try:
        x = float(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{v!r} is not a number; give ε in 0–255 units, e.g. --eps 16") from None
    if not 0 < x <= 64:
        raise argparse.ArgumentTypeError(f"{v} is out of range; give 0 < --eps ≤ 64 "
                                         "(0–255 units; the paper uses 16)")
    return x / 255.0


def _pos_int(v: str) -> int:
    try:
        i = int(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{v!r} is not a whole number; give one ≥ 1") from None
    if i < 1:
        raise argparse.ArgumentTypeError(f"must be ≥ 1, got {v}")
    return i


def _check_output(path: str | os.PathLike, flag: str, inputs: list[Path] = (), is_dir: bool = False) -> Path:
    """Fail before any work when an output could not be written or would replace an input."""
    out = Path(path)
    full = out.resolve()
    for i in inputs:
        if full == i or i in full.parents:
            raise CliError(f"{flag} {path}: must not be an input or lie inside an input folder "
                           "(inputs are never written); choose another path")
    if full.is_dir() and not is_dir:
        raise CliError(f"{flag} {path}: is a folder; give a file name")
    parent = full if is_dir else full.parent
    while not parent.exists():
        parent = parent.parent
    try:  # a real probe (permissions, read-only mounts, root on /proc): gone as soon as it is closed
        if not parent.is_dir():
            raise NotADirectoryError
        with tempfile.TemporaryFile(dir=parent, prefix=".ucs-lite-probe-"):
            pass
    except OSError:
        raise CliError(f"{flag} {path}: cannot write under {parent}; choose a writable location") from None
    return out


def _write_json(path: str, obj: dict) -> None:
    from .data import atomic_write_bytes

    atomic_write_bytes(Path(path), json.dumps(obj, indent=2, default=float).encode())


def _parse_options(pairs: list[str]) -> dict:
    """``--opt key=value`` pairs -> dict, values parsed as JSON where possible (steps=40, param=pixel)."""
    out = {}
    for pr in pairs or []:
        k, sep, v = pr.partition("=")
        if not sep:
            raise CliError(f"--opt expects key=value (e.g. --opt steps=40), got {pr!r}")
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def _input_paths(spec: str) -> list[Path]:
    """The files or folders a ``--data`` spec reads (outputs must never land on them)."""
    from .data import SAMPLE_PATH, find_shared_bundle

    if spec == "sample":
        return [SAMPLE_PATH.resolve()]
    if spec == "shared":
        found = find_shared_bundle()
        return [found.resolve()] if found else []
    return [Path(spec).resolve()] if Path(spec).exists() else []


def _resume_options(a: argparse.Namespace, method: str, inputs: list[Path]) -> dict:
    """``--checkpoint`` / ``--checkpoint-every`` / ``--resume`` as craft options (UC only)."""
    import warnings

    from .data import UcsWarning

    if a.resume and not a.checkpoint:
        raise CliError("--resume needs --checkpoint PATH (the checkpoint file of the interrupted run)")
    if not a.checkpoint:
        return {}
    if method not in ("uc", "uc-robust"):
        raise CliError(f"--checkpoint works with --method uc or uc-robust only (got --method {method}); drop it")
    ck = _check_output(a.checkpoint, "--checkpoint", inputs)
    if a.resume and not ck.is_file():
        warnings.warn(f"--resume: no checkpoint at {ck} yet; starting from step 0", UcsWarning, stacklevel=2)
    elif ck.exists() and not a.resume:
        raise CliError(f"--checkpoint {ck}: exists; pass --resume to continue from it, or delete it to start over")
    return {"checkpoint": str(ck), "checkpoint_every": a.checkpoint_every, "resume": bool(a.resume)}


def _visibility_table(summary: dict) -> str:
    """Per-image visibility figures of a folder run, one line each, and where the preview is."""
    lines = [f"{'image':<32} {'PSNR dB':>8} {'SSIM':>6} {'ΔE00 mean':>9} {'p95':>6} {'>2.3':>5}"]
    for name, v in summary["visibility"].items():
        short = name if len(name) <= 32 else "…" + name[-31:]
        lines.append(f"{short:<32} {v['psnr']:8.1f} {v['ssim']:6.3f} {v['de2000_mean']:9.2f} {v['de2000_p95']:6.2f} "
                     f"{100 * v['de2000_share_jnd']:4.0f}%")
    lines.append(f"strength {summary['strength']} (ε = {summary['eps_255']:.0f}/255); look before publishing: "
                 f"{Path(summary['output_dir']) / summary['preview']}")
    return "\n".join(lines)


def cmd_protect(a: argparse.Namespace) -> int:
    """``protect``: a folder of photos (``--input-dir``) or a bundle (``--data``); every flag is checked before
    any image is read or any feature computed."""
    if a.input_dir:
        return _protect_folder(a)
    return _protect_bundle(a)


def _checked_options(a: argparse.Namespace, method: str) -> dict:
    """``--opt`` pairs checked against ``method``'s accepted options (:func:`ucs_lite.noise.registry.check_options`):
    the dict, or a one-line error naming the key, the method and what it takes."""
    from .noise.registry import check_options

    try:
        return check_options(method, _parse_options(a.opt))
    except ValueError as e:
        raise CliError(f"--opt: {e}") from None


def _protect_folder(a: argparse.Namespace) -> int:
    """``protect --input-dir``: label-free cluster noise on each photo at its native size (PNG + preview)."""
    from .methods import DEFAULT_FOLDER_METHOD
    from .strengths import DEFAULT_STRENGTH
    from .protect import check_folder_method, protect_folder

    if not a.output_dir:
        raise CliError("--input-dir needs --output-dir (where the protected PNGs go)")
    if a.data or a.out:
        raise CliError("give either --input-dir/--output-dir or --data/--out, not both")
    if a.labels is not None:
        raise CliError(f"--labels {a.labels}: a folder of photos has no labels, so --input-dir uses none; "
                       "drop --labels (label-based methods need --data)")
    method = a.method or DEFAULT_FOLDER_METHOD
    try:
        check_folder_method(method)
    except ValueError as e:
        raise CliError(str(e)) from None
    options = _checked_options(a, method)
    src, dst = Path(a.input_dir).resolve(), Path(a.output_dir).resolve()
    if src.is_dir():  # (protect_folder names a missing input folder, and an output inside the input)
        _check_output(a.output_dir, "--output-dir", [src], is_dir=True)
    if a.save_perturbation:
        _check_output(a.save_perturbation, "--save-perturbation", [src])
    options |= _resume_options(a, method, [src, dst])
    summary = protect_folder(a.input_dir, a.output_dir, eps=a.eps, p=a.clusters, seed=a.seed,
                             surrogate=a.surrogate, work_size=a.work_size, overwrite=a.overwrite,
                             device=a.device, progress=not a.quiet, strength=a.strength or DEFAULT_STRENGTH,
                             method=method, perturbation_path=a.save_perturbation, **options)
    if not a.quiet:
        from .protect import countermeasure_note

        print(_visibility_table(summary), file=sys.stderr)
        if summary["survival"]:
            note = countermeasure_note(None, None, method, keep=summary["survival"], photos=summary["survival_photos"])
            print(f"ucs-lite: {note}", file=sys.stderr)
    print(json.dumps({k: v for k, v in summary.items() if k not in ("skipped", "outputs", "config", "visibility")}
                     | {"skipped": len(summary["skipped"])}))
    if summary["skipped"]:
        names = ", ".join(s_["file"] for s_ in summary["skipped"])
        print(f"ucs-lite: warning: {len(summary['skipped'])} file(s) skipped, {summary['written']} protected "
              f"(reasons in {Path(a.output_dir) / 'ucs_lite_summary.json'}): {names}", file=sys.stderr)
    return 0


def _protect_bundle(a: argparse.Namespace) -> int:
    """``protect --data IN --out OUT``: any method on a bundle's training images; the test images untouched."""
    from .methods import DEFAULT_METHOD

    if not a.data or not a.out:
        raise CliError("give --data IN.npz --out OUT.npz (or --input-dir PHOTOS --output-dir OUT)")
    if a.strength:
        raise CliError("--strength shapes the noise of photo folders (--input-dir); for --data use --eps and --opt")
    method, labels = a.method or DEFAULT_METHOD, a.labels or "fine"
    options = _checked_options(a, method)
    a.eps = 16 / 255 if a.eps is None else a.eps
    inputs = _input_paths(a.data)
    out = _check_output(a.out, "--out", inputs)
    if out.exists() and not a.overwrite:
        raise CliError(f"--out {out}: exists; choose another --out or pass --overwrite")
    if a.save_perturbation:
        _check_output(a.save_perturbation, "--save-perturbation", inputs + [out.resolve()])
    options |= _resume_options(a, method, inputs + [out.resolve()])

    from .data import load, save_npz
    from .protect import protect_bundle

    bundle = load(a.data)
    if not a.quiet:
        _say_how_long(method, len(bundle.train), a.device, a.surrogate, a.clusters, options)
    prot, pert = protect_bundle(bundle, method, eps=a.eps, seed=a.seed, labels=labels, surrogate=a.surrogate,
                                p=a.clusters, device=a.device, progress=not a.quiet, **options)
    save_npz(prot, out)
    if a.save_perturbation:
        pert.save(a.save_perturbation)
    meta = prot.meta()
    print(json.dumps({k: meta[k] for k in ("method", "eps_255", "p", "surrogate", "seed", "psnr", "ssim", "seconds")
                      if k in meta} | {"out": str(out)}))
    if not a.quiet:
        from .protect import countermeasure_note

        print(f"ucs-lite: {countermeasure_note(bundle.train.images, prot.train.images, method)}", file=sys.stderr)
    return 0


def _say_how_long(method: str, n: int, device: str, surrogate: str, p: int, options: dict) -> None:
    """Before a long protection (over a minute by :func:`ucs_lite.protect.estimate_protect` on the device that will
    run it), one line on stderr saying about how long, and which part takes it."""
    import torch

    from .protect import estimate_protect
    from .surrogates import resolve_device

    gpu = torch.cuda.get_device_name(0) if resolve_device(device).type == "cuda" else None
    est = estimate_protect(method, n, gpu, surrogate=surrogate, p=p, **options)
    if est["seconds"] < 60:
        return
    parts = ", ".join(f"{k} {v / 60:.0f} min" for k, v in est["parts"].items() if v >= 30)
    basis = "the project's measured rates" if est["measured"] else "assumed rates, not measured"
    print(f"ucs-lite: {method} on {n:,} images takes about {est['seconds'] / 60:.0f} min on a {est['hardware']}: "
          f"{parts} ({basis}; ucs_lite.protect.estimate_protect)", file=sys.stderr)


def cmd_protect_stream(a: argparse.Namespace) -> int:
    """``protect-stream``: :mod:`ucs_lite.stream` (streamed, resumable; ``--workers N`` starts N local processes
    with :mod:`ucs_lite.launch`, which this process becomes when it is the ``ucs-lite`` command itself, so that no
    parent holding ucs_lite's imports waits beside the workers; on several machines, torchrun runs
    ``python -m ucs_lite.stream`` with the same flags)."""
    from .stream import run_from_args

    return run_from_args(a, replace_process=getattr(a, "_console", False))


def cmd_evaluate(a: argparse.Namespace) -> int:
    from .attack import AttackConfig, evaluate, resolve_view
    from .data import load

    out = _check_output(a.out, "--out", _input_paths(a.data)) if a.out else None
    if out and out.exists() and not a.overwrite:
        raise CliError(f"--out {out}: exists; choose another --out or pass --overwrite")
    if a.test_fraction is not None and not 0 < a.test_fraction < 1:
        raise CliError(f"--test-fraction {a.test_fraction}: give a share between 0 and 1, e.g. 0.2")
    bundle = load(a.data, test_fraction=a.test_fraction, seed=a.seed)
    cfg = AttackConfig(model=a.model, epochs=a.epochs, seed=a.seed, augment=a.augment, defense=a.defense,
                       device=a.device, batch_size=a.batch_size, lr=a.lr)
    view = resolve_view(bundle, a.labels)  # ``same`` read once from --data's meta: both runs use this view
    res = evaluate(bundle, labels=view, config=cfg, progress=not a.quiet)
    res["data"] = str(a.data)
    shown = ["method", "labels", "n_classes", "chance", "test_acc_final", "test_acc_peak", "test_acc_valsel", "seconds"]
    if a.clean:
        res.update(_versus_clean(a.clean, bundle, res, view, cfg, a.quiet))
        shown += ["clean_test_acc_peak", "clean_test_acc_final", "removed_peak", "removed_final"]
        shown += ["removed_note"] if "removed_note" in res else []
    if out:
        _write_json(str(out), res)
    print(json.dumps({k: res[k] for k in shown}))
    return 0


def _versus_clean(path: str, bundle, res: dict, view: str, cfg, quiet: bool) -> dict:
    """The same attacker (config, seed, label ``view`` — already resolved, never ``same``) trained on the
    unprotected bundle at ``path`` (cached), and :func:`ucs_lite.metrics.removed` of peak and final:
    ``{"clean_test_acc_peak", "clean_test_acc_final", "removed_peak", "removed_final", "clean_data"}``, plus
    ``removed_note`` (why) when either is NaN. The clean bundle must have the same test images."""
    from . import cache
    from .data import load
    from .metrics import removed, removed_reason

    clean = load(path)
    if clean.test.fingerprint() != bundle.test.fingerprint():
        raise CliError(f"--clean {path}: its test images differ from --data's; give the unprotected bundle "
                       "that --data was made from")
    ref = cache.evaluate(clean, view, cfg, progress=not quiet)
    out = {"clean_data": str(path), "clean_test_acc_peak": ref["test_acc_peak"],
           "clean_test_acc_final": ref["test_acc_final"]}
    notes = []
    for k in ("peak", "final"):
        args = (ref[f"test_acc_{k}"], res[f"test_acc_{k}"], res["chance"])
        out[f"removed_{k}"] = removed(*args)
        why = removed_reason(*args)
        if why:
            notes.append(f"{k}: {why}")
    return out | ({"removed_note": "; ".join(notes)} if notes else {})


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
                    surrogate=a.surrogate, device=a.device, defenses=a.defenses.split(","), progress=not a.quiet,
                    refresh=a.refresh)
    print(table.to_string(index=False))
    out = {"rows": table.to_dict(orient="records")}
    if len(set(table["defense"])) > 1:
        from .experiment import worst_case

        worst = worst_case(table)
        print("\nworst case over defenses (highest attacker peak accuracy):")
        print(worst.to_string(index=False))
        out["worst_case"] = worst.to_dict(orient="records")
    if a.out:
        _write_json(a.out, out)
    return 0


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def cmd_cache(a: argparse.Namespace) -> int:
    from . import cache

    kinds = tuple(a.kind) if a.kind else cache.KINDS
    root = cache.cache_root()  # = ucs_lite.files.cache_dir()
    if a.action in ("export", "import"):
        return _cache_pack(a, kinds, root)
    if a.action == "ls":
        rows = cache.entries(kinds=kinds)
        for e in rows:
            age = e["age_s"] / 3600
            print(f"{e['kind']:<13} {Path(e['file']).name:<26} {_size(e['bytes']):>9} "
                  f"{age:7.1f} h  {e['summary']}")
        total = sum(e["bytes"] for e in rows)
        print(f"{len(rows)} entries, {_size(total)} in {root}")
        return 0
    n, freed = cache.clear(kinds=kinds)
    print(f"removed {n} files ({_size(freed)}) of {', '.join(kinds)} from {root}")
    return 0


def _cache_pack(a: argparse.Namespace, kinds: tuple[str, ...], root: Path) -> int:
    """``cache export FILE`` / ``cache import FILE|URL``: a course pack of the cache (:mod:`ucs_lite.pack`)."""
    from .pack import PackError, export_pack, import_pack

    if not a.file:
        raise PackError(f"cache {a.action} needs a FILE" + (" or URL" if a.action == "import" else ""))
    if a.action == "export":
        m = export_pack(a.file, kinds=kinds, overwrite=a.force)
        what = ", ".join(f"{n} {k}" for k, n in m["kinds"].items())
        print(f"wrote {m['path']} ({_size(m['bytes'])}): {what} from {root}; made {m['created']} with ucs_lite "
              f"{m['ucs_lite']}, torch {m['torch']} on {m['device']}" + (f", commit {m['commit'][:12]}" if m["commit"]
                                                                          else ""))
        return 0
    report = import_pack(a.file)
    print(f"{a.file} -> {root}: {report.summary()}")
    for member in report.kept_different:
        print(f"  kept yours: {member}")
    return 0


def cmd_demo(a: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(a.data, a.out_root, epochs=a.epochs, surrogate=a.surrogate, device=a.device, seed=a.seed,
             n_train=a.train_size, progress=not a.quiet)
    return 0


def cmd_notebooks(a: argparse.Namespace) -> int:
    from .notebooks import run_notebooks

    params = {}
    for name, value in a.p or []:
        try:
            params[name] = json.loads(value)
        except json.JSONDecodeError:
            params[name] = value
    summary = run_notebooks(a.names.split(",") if a.names else None, params=params, out_root=a.out_root,
                            notebook_dir=a.notebook_dir)
    print(json.dumps(summary, indent=2, default=str))
    return 0 if all(s["ok"] for s in summary["notebooks"]) else 1


def cmd_estimate(a: argparse.Namespace) -> int:
    from .estimate import estimate_profile

    est = estimate_profile(a.profile, a.gpu)
    if not a.parts:
        est.pop("parts")
    print(json.dumps(est, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    # torch-free modules only: --help and argument errors answer without loading torch (tests/test_validation.py)
    from . import __version__
    from .estimate import HARDWARE
    from .methods import DEFAULT_FOLDER_METHOD, DEFAULT_METHOD, DEFAULT_SURROGATE, FOLDER_METHODS, METHODS
    from .profiles import ATTACKERS, PROFILES
    from .strengths import DEFAULT_STRENGTH, STRENGTHS

    ap = _Parser(prog="ucs-lite", description="Label-agnostic unlearnable examples (Unlearnable Clusters).")
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
    p.add_argument("--method", default=None, choices=METHODS,
                   help=f"noise method (default {DEFAULT_METHOD}: the best worst case measured over no "
                        "countermeasure, JPEG 75, JPEG 10 and grayscale, docs/countermeasures.md; uc: Unlearnable "
                        "Clusters, uc-official: the authors' schedule); "
                        f"--input-dir takes {', '.join(FOLDER_METHODS)} (default {DEFAULT_FOLDER_METHOD})")
    p.add_argument("--surrogate", default=DEFAULT_SURROGATE)
    p.add_argument("--clusters", type=_pos_int, default=10, help="p, the number of K-means clusters")
    p.add_argument("--eps", type=_eps, default=None,
                   help="L∞ bound in 0–255 units (default 16; with --input-dir: the --strength's)")
    p.add_argument("--labels", default=None,
                   help="the protector's label view (label-based methods with --data only; default fine)")
    p.add_argument("--work-size", type=_pos_int, default=64, help="crafting resolution for --input-dir")
    p.add_argument("--strength", choices=list(STRENGTHS), default=None,
                   help=f"(--input-dir) how strong and how visible the noise is (default {DEFAULT_STRENGTH}; cells shape "
                        "uc, uc-robust and random-cluster, gen-cluster's texture has none): "
                        + "; ".join(f"{k}: {v.describe()}" for k, v in STRENGTHS.items()))
    p.add_argument("--save-perturbation",
                   help="also write the Perturbation artefact here (.npz; with --input-dir: δ at --work-size)")
    p.add_argument("--opt", action="append", metavar="KEY=VALUE",
                   help="method option, checked against the method's before any work, e.g. --method uc --opt steps=40")
    p.add_argument("--checkpoint",
                   help="(uc, uc-robust) save the crafting state to this file every --checkpoint-every steps")
    p.add_argument("--checkpoint-every", type=_pos_int, default=10, help="steps between checkpoints (default 10)")
    p.add_argument("--resume", action="store_true",
                   help="(uc, uc-robust) continue an interrupted run from --checkpoint; "
                        "gives the same δ as an uninterrupted run")
    common(p)
    p.set_defaults(func=cmd_protect)

    # ---- protect-stream (ucs_lite.stream, issue 37): a large folder, streamed, resumable, sharded over workers
    from .stream import add_stream_arguments

    p = sub.add_parser("protect-stream", help="protect a folder of any size: streamed, bounded memory, resumable "
                                              "(rerun the command), --workers N local processes (torchrun)")
    add_stream_arguments(p)
    p.set_defaults(func=cmd_protect_stream)
    # ---- end protect-stream

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
    p.add_argument("--test-fraction", type=float, default=None,
                   help="for an image folder (which has no test split): hold out this share of its images, "
                        "chosen by --seed, as the test images (e.g. 0.2)")
    p.add_argument("--clean", metavar="CLEAN.npz",
                   help="the unprotected bundle --data was made from: the same attacker is trained on it too "
                        "(cached) and the JSON gains removed_peak / removed_final = (clean − protected) / "
                        "(clean − chance)")
    p.add_argument("--out", help="result JSON")
    common(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("compare", aliases=["sweep"],
                       help="clean vs protected for methods × label views × defenses (sweep: worst case too)")
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
    p.add_argument("--refresh", action="store_true", help="recompute cached protected sets and attacker runs")
    common(p)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("demo", help="the label-agnostic story in ~3 minutes: runs/demo-*/report.html")
    p.add_argument("--data", default="sample")
    p.add_argument("--epochs", type=_pos_int, default=None, help="attacker epochs (default: the demo's, 12)")
    p.add_argument("--train-size", type=_pos_int, default=None, help="training images (default: the demo's, 4000)")
    p.add_argument("--surrogate", default=DEFAULT_SURROGATE)
    p.add_argument("--out-root", default="runs")
    common(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("cache", help="list (ls) or empty (clear) the cache of protected sets, perturbations, "
                                     "attacker runs and features ($UCS_LITE_CACHE or ~/.cache/ucs_lite); export it "
                                     "as one course-pack file, or import one (never overwriting an entry)")
    p.add_argument("action", choices=["ls", "clear", "export", "import"])
    p.add_argument("file", nargs="?", help="export: the pack file to write; import: a pack file or http(s) URL")
    p.add_argument("--kind", action="append", choices=["protected", "perturbations", "attack", "features"],
                   help="only this kind of entry (repeatable; default: all)")
    p.add_argument("--force", action="store_true", help="export: replace an existing FILE")
    p.set_defaults(func=cmd_cache)

    p = sub.add_parser("notebooks", help="execute the notebooks with papermill into runs/<timestamp>/ (a "
                                         "checkout's notebooks/, else those packaged with ucs_lite)")
    p.add_argument("names", nargs="?", help="comma-separated notebook names (default: all)")
    p.add_argument("-p", nargs=2, action="append", metavar=("NAME", "VALUE"), help="parameter override")
    p.add_argument("--out-root", default="runs")
    p.add_argument("--notebook-dir", default=None,
                   help="folder of the notebooks (default: a checkout's notebooks/, else the packaged copies)")
    p.set_defaults(func=cmd_notebooks)

    p = sub.add_parser("estimate", help="seconds each notebook takes under a profile on a GPU or CPU (JSON)")
    p.add_argument("--profile", default="gpu-class", choices=list(PROFILES))
    p.add_argument("--gpu", default="t4", choices=list(HARDWARE),
                   help="hardware: cpu is measured on the project's 2 cores; t4 / a100 / h100 are stated assumptions")
    p.add_argument("--parts", action="store_true", help="also the seconds per kind of work")
    p.set_defaults(func=cmd_estimate)
    return ap


def _one_line(e: BaseException) -> str:
    """An exception's message on one line (KeyError's quotes dropped, OSErrors with their path and a fix)."""
    if isinstance(e, KeyError) and len(e.args) == 1 and isinstance(e.args[0], str):
        msg = e.args[0]
    elif isinstance(e, OSError) and e.strerror:
        where = f"{e.filename}: " if e.filename else ""
        msg = f"{where}{e.strerror}; check the path and its permissions"
    else:
        msg = str(e) or type(e).__name__
    return " ".join(part.strip() for part in msg.splitlines() if part.strip())


def _show_warning(message, category, filename, lineno, file=None, line=None, _default=None):
    """ucs_lite's own warnings as one ``ucs-lite: warning: ...`` line on stderr; others as usual."""
    from .data import UcsWarning

    if issubclass(category, UcsWarning):
        print(f"ucs-lite: warning: {_one_line(Exception(str(message)))}", file=sys.stderr)
    else:
        _default(message, category, filename, lineno, file, line)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ucs-lite`` command. Returns the exit code: 0 done, 2 bad input or a run that
    cannot proceed (a :class:`~ucs_lite.errors.UcsError`: one ``ucs-lite: error: ...`` line on stderr naming the file
    and the fix), 1 an internal error (its traceback and a note that it is a bug), 130 interrupted."""
    import functools
    import warnings

    try:
        args = build_parser().parse_args(argv)
    except CliError as e:
        print(f"ucs-lite: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except SystemExit as e:  # --help, --version
        return e.code if isinstance(e.code, int) else 0
    args._console = argv is None  # the ucs-lite command itself (not a call from Python): may replace its process
    from .data import UcsWarning
    from .errors import UcsError
    threads = os.environ.get("UCS_LITE_THREADS")
    if threads:
        import torch

        torch.set_num_threads(int(threads))
    with warnings.catch_warnings():
        warnings.simplefilter("always", UcsWarning)
        warnings.showwarning = functools.partial(_show_warning, _default=warnings.showwarning)
        try:
            return args.func(args)
        except UcsError as e:  # what the user can fix: one line (ucs_lite.errors)
            print(f"ucs-lite: error: {_one_line(e)}", file=sys.stderr)
            return 2
        except OSError as e:
            if not _user_file_error(e):
                return _bug(e)
            print(f"ucs-lite: error: {_one_line(e)}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            hint = (" rerun with --resume to continue from the last checkpoint."
                    if getattr(args, "checkpoint", None) else "")
            print("ucs-lite: interrupted (outputs are written atomically: nothing half-written was left)." + hint,
                  file=sys.stderr)
            return 130
        except Exception as e:  # anything else is a bug in ucs_lite: show where
            return _bug(e)


def _user_file_error(e: OSError) -> bool:
    """An OS error about a file the user named or a full disk (one line), rather than a bug (traceback)."""
    import errno

    return e.errno == errno.ENOSPC or (e.filename is not None and isinstance(
        e, (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError, FileExistsError)))


def _bug(e: BaseException) -> int:
    """Print ``e``'s traceback and say it is a bug (exit 1)."""
    import traceback

    traceback.print_exception(type(e), e, e.__traceback__, file=sys.stderr)
    from . import __version__

    print(f"ucs-lite: internal error ({type(e).__name__}) — this is a bug in ucs_lite {__version__}, not something "
          "you did; please report it with the traceback above.", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
