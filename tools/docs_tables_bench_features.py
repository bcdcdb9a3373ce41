"""Generated blocks and values of this study: feature-extraction throughput.

Its numbers come from the results ``python benchmarks/bench_features.py`` writes; registered with :mod:`docs_tables`'
decorators (JSON only, like the engine).
"""
from __future__ import annotations

from docs_tables import Results, block, md_table


@block("results-bench-features", "bench_features.json", rows="EfficientNet-Lite0 rows, one thread")
def _results_bench_features(r: Results) -> str:
    """Surrogate throughput per input resolution."""
    out = [[f"{x['resolution']} px", f"{x['fwd_img_s']:.0f}", f"{x['fwd_bwd_img_s']:.0f}"]
           for x in r.json("bench_features.json")["rows"] if not x.get("skipped")]
    return md_table(["EfficientNet-Lite0 input", "forward img/s", "forward+backward img/s"], out)
