"""Generated blocks of docs/gpu.md and README from the time model (:mod:`ucs_lite.estimate`) and the measured
notebook run (benchmarks/results/notebook_times.json, ``python benchmarks/notebook_times.py``): the estimates per
notebook (``estimate-notebooks``, with the measured ``cpu-quick`` times beside the model's), the throughputs the
model divides by (``estimate-hardware``) and the modelled GPU minutes (``gpu-estimates``)."""
from __future__ import annotations

import sys

from docs_tables import Results, block, duration, md_table


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


@block("gpu-estimates", rows="the time model `ucs_lite.estimate.estimate_profile` (estimates, not measurements)")
def _gpu_estimates(r: Results) -> str:
    """The README's modelled minutes per notebook (imports ``ucs_lite.estimate`` lazily)."""
    if str(r.root) not in sys.path:
        sys.path.append(str(r.root))  # a checkout without an install: the package next to tools/
    from ucs_lite.estimate import estimate_profile  # lazy: the only block that needs the package

    cols = [("gpu-class", "t4", "s"), ("gpu-paper", "t4", "auto"), ("gpu-paper", "a100", "auto")]
    # clip=True: on a GPU runtime (Colab) notebook 02 gets its CLIP weights; without it the table would depend on
    # the caller's HF_HUB_OFFLINE (make exports it), and check-docs would differ between shells
    est = {(p, g): estimate_profile(p, g, clip=True)["seconds"] for p, g, _ in cols}
    names = list(est[cols[0][:2]])
    rows = [[f"`{n}`", *[duration(est[(p, g)][n], unit) for p, g, unit in cols]] for n in names]
    return md_table(["notebook", "`gpu-class`, T4", "`gpu-paper`, T4", "`gpu-paper`, A100"], rows)
