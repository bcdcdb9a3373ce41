"""Time every notebook at the ``cpu-quick`` profile, each from a cold cache, and store the result that
tests/test_estimate.py checks the time model (``ucs_lite.estimate``) against.

    python benchmarks/notebook_times.py                # all notebooks -> benchmarks/results/notebook_times.json
    python benchmarks/notebook_times.py 00 03 --out runs/times.json
    python benchmarks/notebook_times.py --claims       # also keep the executed runs as claims runs (seed 0)
    python benchmarks/notebook_times.py --pack         # then each notebook again from a course pack of those runs

With ``--pack`` the cold runs' caches are merged into one course pack (what ``ucs-lite cache export`` writes after a
teacher's run), and every notebook runs a second time from its own empty cache with ``UCS_LITE_PACK`` naming that
pack, as a student's fresh runtime would: the ``pack`` entry of each notebook (wall and CPU seconds) and the pack's
size are stored beside the cold times.

With ``--claims`` the executed notebooks are kept under ``runs/claims-t<threads>/<commit>/`` with the
parameters ``benchmarks/claims.py run`` gives seed 0 (``seed 0, seeds [0]``, the defaults), so one quiet,
cold run serves both the time model and the claims table (``benchmarks/claims.py table``).

Per notebook: wall seconds, the kernel's CPU seconds (user + system of the papermill kernel, read from the
rusage of the process that ran it: the kernel is its waited-for child), the load average before and after, and
the plan it ran (``ucs_lite.profiles.NOTEBOOK_WORK`` at that commit), so the model can be checked against the
workload that was timed even after a notebook changes. The file's ``reference`` (``seconds``: wall time) is what
tests/test_estimate.py compares the model with, so run this with nothing else on the machine: wall time grows with
other jobs' load (the load averages stored beside each notebook show whether it did).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __name__ == "__main__" and not __package__:  # run as a script: see benchmarks/__init__.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.common import ROOT, commit, write_result  # noqa: E402
from ucs_lite.profiles import NOTEBOOK_WORK, NOTEBOOKS  # noqa: E402  (torch-free)

RUNNER = ("import json, sys; from ucs_lite.notebooks import run_notebooks; "
          "s = run_notebooks([sys.argv[1]], params=json.loads(sys.argv[4]), out_root=sys.argv[2]); "
          "json.dump(s['notebooks'][0], open(sys.argv[3], 'w'), default=str)")


def time_notebook(name: str, work_dir: Path, runs_dir: Path | None = None, params: dict | None = None,
                  pack: Path | None = None) -> dict:
    """Run notebook ``name`` in a subprocess with its own empty cache (under ``work_dir``); wall and CPU seconds.

    The executed notebook goes to ``runs_dir/<stamp>/`` (default: ``work_dir/runs``), run with ``params``;
    ``pack``: a course pack the notebook imports into that empty cache (``UCS_LITE_PACK``)."""
    tag = "pack-" if pack else ""
    env = {**os.environ, "UCS_LITE_CACHE": str(work_dir / f"cache-{tag}{name}"), "HF_HUB_OFFLINE": "1"}
    env.pop("UCS_LITE_PACK", None)
    if pack:
        env["UCS_LITE_PACK"] = str(pack)
    out = work_dir / f"{tag}{name}.json"
    load_before = os.getloadavg()
    t0 = time.time()
    proc = subprocess.Popen([sys.executable, "-c", RUNNER, name, str(runs_dir or work_dir / "runs"), str(out),
                             json.dumps(params or {})], cwd=ROOT, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.time() - t0
    run = json.loads(out.read_text()) if out.is_file() else {"ok": False, "error": f"exit status {status}"}
    return {"ok": bool(run.get("ok")) and status == 0, "seconds": round(wall, 1),
            "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
            "surrogate_used": run.get("numbers", {}).get("surrogate_used", NOTEBOOK_WORK[name].get("surrogate")),
            "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in os.getloadavg()],
            "work": NOTEBOOK_WORK[name], "error": run.get("error")}


def course_pack(work_dir: Path, names: list[str], path: Path) -> dict:
    """Merge the cold runs' caches (``work_dir/cache-<name>``) into one cache and export it as the course pack
    ``path`` (:func:`ucs_lite.pack.export_pack`); returns the pack's manifest (``bytes``: its size)."""
    from ucs_lite.pack import export_pack, import_pack

    union = work_dir / "cache-course"
    for n in names:
        part = work_dir / f"part-{n}.zip"
        export_pack(part, cache_dir=work_dir / f"cache-{n}")
        import_pack(part, cache_dir=union)
        part.unlink()
    return export_pack(path, cache_dir=union)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="notebook names or prefixes (default: all)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "notebook_times.json"))
    ap.add_argument("--pack", action="store_true",
                    help="then run each notebook again from a course pack of the cold runs (a student with a pack)")
    ap.add_argument("--claims", action="store_true",
                    help="keep the executed notebooks as seed-0 claims runs under runs/claims-t<threads>/<commit>/")
    a = ap.parse_args(argv)
    names = [n for n in NOTEBOOKS if not a.names or any(n.startswith(p) for p in a.names)]
    import torch  # only for the thread count the notebooks will use

    threads = int(os.environ.get("UCS_LITE_THREADS") or torch.get_num_threads())
    runs_dir = None
    if a.claims:
        from benchmarks.claims import RUNS, SEEDED, current_commit

        runs_dir = RUNS / f"claims-t{threads}" / current_commit()

    def params_of(n: str) -> dict:
        return {"seed": 0, "seeds": [0]} if a.claims and n in SEEDED else {}

    with tempfile.TemporaryDirectory() as tmp:
        notebooks = {}
        for n in names:
            print(f"[notebook_times] {n} ...", file=sys.stderr, flush=True)
            notebooks[n] = time_notebook(n, Path(tmp), runs_dir, params_of(n))
            print(f"[notebook_times] {n}: {notebooks[n]['seconds']} s wall, {notebooks[n]['cpu_seconds']} s CPU",
                  file=sys.stderr, flush=True)
        pack_info = None
        if a.pack:
            ok = [n for n in names if notebooks[n]["ok"]]
            manifest = course_pack(Path(tmp), ok, Path(tmp) / "course.zip")
            pack_info = {"bytes": manifest["bytes"], "kinds": manifest["kinds"], "notebooks": ok}
            for n in ok:
                print(f"[notebook_times] {n} from the course pack ...", file=sys.stderr, flush=True)
                r = time_notebook(n, Path(tmp), None, params_of(n), pack=Path(tmp) / "course.zip")
                notebooks[n]["pack"] = {k: r[k] for k in ("ok", "seconds", "cpu_seconds", "load_before", "load_after",
                                                          "error")}
                print(f"[notebook_times] {n} from the pack: {r['seconds']} s wall", file=sys.stderr, flush=True)
    result = {"profile": "cpu-quick", "commit": commit(), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "threads": threads,
              "cores": os.cpu_count(), "reference": "seconds", "notebooks": notebooks,
              "how": (f"python benchmarks/notebook_times.py {' '.join(sys.argv[1:] if argv is None else argv)}: every "
                      "notebook run by ucs_lite.notebooks.run_notebooks in a process of its own with its own empty "
                      f"UCS_LITE_CACHE (a fresh runtime, as on Colab), HF_HUB_OFFLINE=1, {threads} torch threads, one "
                      "after another; `seconds`: wall time of the papermill run (what the time model is checked "
                      "against), `cpu_seconds`: user + system CPU of the kernel"
                      + ("; `pack`: the same notebook again from an empty cache with UCS_LITE_PACK naming the course "
                         "pack made from all the cold runs' caches" if a.pack else ""))}
    if pack_info:
        result["pack"] = pack_info
    write_result(Path(a.out), result, indent=1, trailing_newline=True)
    print(a.out)
    return 0 if all(r["ok"] and r.get("pack", {}).get("ok", True) for r in notebooks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
