"""Generated blocks of docs/scale.md from benchmarks/results/scale.json (benchmarks/scale.py): throughput per stage
with one process and two workers (``scale-throughput``), peak memory and the bit-identity checks (``scale-memory``),
streamed vs full K-means (``scale-kmeans``) and the ImageNet projection (``scale-imagenet``, an estimate)."""
from __future__ import annotations

from docs_tables import Results, block, f3, md_table

SRC = "scale.json"
STAGES = ("list", "features", "cluster", "delta", "apply", "finish")


def _rate(stage: dict | None) -> str:
    """``123 img/s (45 s)``; ``— (45 s)`` for a stage without an image count; ``—`` when not measured."""
    if not stage:
        return "—"
    rate = stage.get("images_per_s")
    return f"{rate:,.0f} img/s ({stage['seconds']:.0f} s)" if rate else f"— ({stage['seconds']:.0f} s)"


def _speedup(one: dict | None, two: dict | None) -> str:
    if not one or not two or not two.get("seconds"):
        return "—"
    return f"{one['seconds'] / two['seconds']:.2f}×"


@block("scale-throughput", SRC, rows="parts a (one process, 2 threads), s (one process, 1 thread), d (two workers, 1 "
                                     "thread each, local launcher) and t (d under torchrun): `summary.stages`")
def _throughput(r: Results) -> str:
    d = r.json(SRC)
    runs = {k: (d.get(k) or {}).get("summary", {}) for k in ("a", "s", "d", "t")}
    st = {k: v.get("stages", {}) for k, v in runs.items()}
    rows = [[f"`{s}`", _rate(st["a"].get(s)), _rate(st["s"].get(s)), _rate(st["d"].get(s)), _rate(st["t"].get(s)),
             _speedup(st["s"].get(s), st["d"].get(s))] for s in STAGES]
    tot = {k: v.get("seconds") for k, v in runs.items()}
    rows.append(["**all**", *(f"{tot[k]:.0f} s" if tot[k] else "—" for k in ("a", "s", "d", "t")),
                 f"{tot['s'] / tot['d']:.2f}×" if tot["s"] and tot["d"] else "—"])
    head = (f"{d['images']:,} JPEGs at 64 px, `gen-cluster`, p = 10, `balanced`, surrogate at {d['resolution']} px, "
            f"chunks of {d['chunk_size']}, each run from an empty cache")
    return head + "\n\n" + md_table(["stage", f"1 process, {d['threads']} threads (a)", "1 process, 1 thread (s)",
                                     "2 workers, 1 thread each (d)", "the same, started by torchrun (t)",
                                     "speed-up d vs s"], rows)


def _mb(part: dict | None, key: str) -> str:
    return f"{part[key]:,.0f} MB" if part and part.get(key) is not None else "—"


def _yes(x: bool | None) -> str:
    return "not measured" if x is None else ("**yes**" if x else "**no**")


def _who(command: str) -> str:
    """A process of a run, by its command line: the launcher, torchrun's agent, a worker."""
    if "ucs_lite.launch" in command:
        return "launcher"
    if "torch.distributed.run" in command or "torchrun" in command:
        return "torchrun agent"
    return "worker" if "ucs_lite.stream" in command else command.split()[-1]


def _at_peak(part: dict | None) -> str:
    """Each process's RSS at the summed peak, split into anonymous + file-backed pages (MB)."""
    rows = (part or {}).get("at_peak")
    if not rows:
        return "—"
    return "; ".join(f"{_who(p['command'])} {p['rss_mb']:,.0f} ({p.get('anon_mb', 0):,.0f} + {p.get('file_mb', 0):,.0f})"
                     for p in rows)


@block("scale-memory", SRC, rows="parts a, s, b, c, d, t: `peak_rss_mb`, `peak_pss_mb`, `at_peak`, `checks`")
def _memory(r: Results) -> str:
    d = r.json(SRC)
    labels = {"a": f"a: all {d['images']:,} images, 1 process", "s": "s: all, 1 process at 1 thread",
              "b": "b: half of them, 1 process",
              "c": "c: killed twice, last resume", "d": "d: all, 2 workers + the local launcher",
              "t": "t: all, 2 workers + torchrun's agent"}
    rows = []
    for k, text in labels.items():
        part = d.get(k)
        if k == "c" and part:
            part = part.get("resume")
        rows.append([text, _mb(part, "peak_rss_mb"), _mb(part, "peak_pss_mb"),
                     part.get("processes", "—") if part else "—", _at_peak(part)])
    c = d.get("checks", {})
    table = md_table(["run", "peak RSS, summed", "peak PSS, summed", "processes",
                      "at that peak: RSS per process, MB (anonymous + file-backed)"], rows)
    checks = md_table(["check", "result"], [
        ["peak RSS of a ≤ 2 GB", _yes(c.get("peak_rss_a_le_2gb"))],
        ["peak RSS of b within ±10 % of a", _yes(c.get("peak_rss_half_within_10pct"))],
        ["c (killed at half the feature chunks, resumed, killed at half the PNGs, resumed): every output byte-identical to a",
         _yes(c.get("resume_bit_identical"))],
        ["d (2 workers): every output byte-identical to a", _yes(c.get("two_workers_bit_identical"))],
        ["t (2 workers started by torchrun): every output byte-identical to a",
         _yes(c.get("two_torchrun_workers_bit_identical"))],
        ["s (1 thread instead of 2): every output byte-identical to a", _yes(c.get("one_thread_bit_identical"))],
        ["peak RSS of d ≤ 2 GB", _yes(c.get("two_workers_peak_rss_le_2gb"))],
        ["peak PSS of d ≤ 2 GB", _yes(None if not d.get("d") else d["d"]["peak_pss_mb"] <= 2048)],
        ["peak RSS of t (torchrun) ≤ 2 GB", _yes(None if not d.get("t") else d["t"]["peak_rss_mb"] <= 2048)]])
    return table + "\n\n" + checks


@block("scale-imports", SRC, rows="part g: `steps`")
def _imports(r: Results) -> str:
    g = r.json(SRC).get("g") or {}
    if "steps" not in g:
        return "(part g not measured yet)"
    rows = [[x["step"], f"{x['rss_mb']:,.0f} MB", f"{x.get('anon_mb', 0):,.0f} MB", f"{x.get('file_mb', 0):,.0f} MB",
             f"{x['pss_mb']:,.0f} MB"] for x in g["steps"]]
    return md_table(["one process at 1 thread, step by step", "RSS", "of it anonymous", "of it file-backed", "PSS"],
                    rows)


@block("scale-kmeans", SRC, rows="part e")
def _kmeans(r: Results) -> str:
    e = r.json(SRC).get("e")
    if not e:
        return "(part e not measured yet)"
    rows = [["streamed mini-batch K-means (`assign.npy` of a)", f3(e["stream"]["purity"]), f3(e["stream"]["nmi"])],
            [f"full K-means, n_init 10 ({e['full_kmeans_seconds']:.0f} s)", f3(e["full_kmeans"]["purity"]),
             f3(e["full_kmeans"]["nmi"])]]
    return (md_table(["clustering of the same features", "purity (fine labels)", "NMI (fine labels)"], rows)
            + f"\n\nNMI between the two clusterings: {f3(e['nmi_stream_vs_full'])} ({e['n']:,} images, p = {e['p']}).")


def _dur(s: float | None) -> str:
    if s is None:
        return "—"
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.0f} min" if s < 7200 else f"{s / 3600:.1f} h"


@block("scale-imagenet", SRC, rows="`projection`: an estimate from the time model's assumed GPU throughputs and the "
                                   "host rates measured in parts a and f")
def _imagenet(r: Results) -> str:
    d = r.json(SRC)
    p = d.get("projection")
    if not p:
        return "(not measured yet)"
    rows = [[row["gpu_name"], row["gpus"], _dur(row["features_s"]), _dur(row["cluster_s"]), _dur(row["delta_s"]),
             _dur(row["apply_s"]), f"**{_dur(row['total_s'])}**"] for row in p["rows"]]
    return md_table(["GPU (assumed figures)", "GPUs", "features", "K-means (rank 0, CPU)", "δ", "apply", "total"], rows)
