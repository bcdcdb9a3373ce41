"""Generated blocks of docs/gpu.md from the time model (:mod:`ucs_lite.estimate`) and the measured notebook run
(benchmarks/results/notebook_times.json): the estimates per notebook (``estimate-notebooks``, with the measured
``cpu-quick`` times beside the model's) and the throughputs the model divides by (``estimate-hardware``)."""
from __future__ import annotations

import sys

from docs_tables import Results, block


def _estimate(r: Results):
    """:mod:`ucs_lite.estimate`, importable from a checkout without an install (torch-free)."""
    if str(r.root) not in sys.path:
        sys.path.append(str(r.root))
    from ucs_lite import estimate

    return estimate


@block("estimate-notebooks", "notebook_times.json",
       rows="measured column; the other columns are the time model `ucs_lite.estimate.markdown_table`")
def _estimate_notebooks(r: Results) -> str:
    est = _estimate(r)
    return est.markdown_table(r.json("notebook_times.json"))


@block("estimate-hardware", rows="the throughputs of `ucs_lite.estimate.HARDWARE` (`hardware_markdown_table`)")
def _estimate_hardware(r: Results) -> str:
    return _estimate(r).hardware_markdown_table()
