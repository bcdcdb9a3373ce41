"""Checks for the notebooks' coding exercises, and the two teaching widgets (notebooks 02 and 05).

Every ``check_*`` function takes the student's function, runs it on small cases whose answers the library
computes, prints one line and returns it. A check never raises (a student's notebook must not stop):

- an untouched exercise (the stub returns ``None``, ``...`` or raises ``NotImplementedError``) gives
  ``"not attempted"``;
- a right one gives ``"correct"`` (followed by a short remark);
- a wrong one says what is wrong: the case, what was expected and what the function returned.

The widgets (:func:`p_slider`, :func:`jpeg_quality_slider`) precompute everything they show, so dragging them
costs nothing, and they carry a static HTML view of their first state, so papermill / nbval runs and exported
notebooks show a picture instead of an empty widget.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

NOT_ATTEMPTED = "not attempted"
CORRECT = "correct"

__all__ = ["NOT_ATTEMPTED", "CORRECT", "check_removed", "check_shortcut_ceiling", "check_purity_completeness",
           "check_pattern_family", "check_worst_removed", "check_survival", "p_slider", "jpeg_quality_slider"]


# ------------------------------------------------------------------------------------------------ plumbing


class _NotAttempted(Exception):
    pass


def _call(fn: Callable, *args):
    """The student's result, or _NotAttempted for an untouched stub; other exceptions propagate as text."""
    if fn is None:
        raise _NotAttempted
    try:
        out = fn(*args)
    except NotImplementedError:
        raise _NotAttempted from None
    if out is None or out is Ellipsis:
        raise _NotAttempted
    return out


def _report(text: str, quiet: bool) -> str:
    if not quiet:
        print(text)
    return text


def _run(check: Callable[[], str], quiet: bool) -> str:
    """Run one check body; map the outcomes to the one line a student reads."""
    try:
        return _report(check(), quiet)
    except _NotAttempted:
        return _report(NOT_ATTEMPTED, quiet)
    except Exception as e:  # the student's code failed: say how, never stop the notebook
        return _report(f"your function raised {type(e).__name__}: {e}", quiet)


def _close(a, b, tol: float = 1e-6) -> bool:
    try:
        a, b = float(a), float(b)
    except (TypeError, ValueError):
        return False
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= tol


# ------------------------------------------------------------------------------------------------ checks


def check_removed(fn: Callable[[float, float, float], float], quiet: bool = False) -> str:
    """Exercise (notebook 00): ``removed(clean, protected, chance) = (clean − protected) / (clean − chance)``."""
    cases = [(0.60, 0.60, 0.10, 0.0, "no protection"), (0.60, 0.10, 0.10, 1.0, "down to chance"),
             (0.587, 0.365, 0.10, (0.587 - 0.365) / (0.587 - 0.10), "a measured pair"),
             (0.90, 0.75, 0.60, 0.5, "the coarse view: chance is the majority rate 0.60")]

    def body() -> str:
        for clean, prot, chance, want, what in cases:
            got = _call(fn, clean, prot, chance)
            if not _close(got, want, 1e-3):
                hint = ""
                if _close(got, 1 - want, 1e-3):
                    hint = " (that is 1 − removed: the share the attacker still learns)"
                elif _close(got, clean - prot, 1e-3):
                    hint = " (that is the drop itself: divide by what was learnable above chance)"
                return f"not yet: removed({clean}, {prot}, {chance}) should be {want:.3f} ({what}), yours gave {got}{hint}"
        return f"{CORRECT}: 1 = nothing learnable left, 0 = no protection"
    return _run(body, quiet)


def _contingency(groups: np.ndarray, labels: np.ndarray) -> np.ndarray:
    g, gi = np.unique(groups, return_inverse=True)
    c, ci = np.unique(labels, return_inverse=True)
    t = np.zeros((len(g), len(c)), dtype=np.int64)
    np.add.at(t, (gi, ci), 1)
    return t


def _cases_groups(seed: int = 0) -> list[tuple[np.ndarray, np.ndarray, str]]:
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(10), 20)
    coarse = np.where(np.isin(y, [0, 1, 8, 9]), 0, 1)  # CIFAR-10's vehicle / animal split
    noisy = np.where(rng.random(len(y)) < 0.3, rng.integers(0, 10, len(y)), y)
    return [(y.copy(), y, "groups = the classes"), (coarse, y, "2 groups, animal / vehicle"),
            (noisy, y, "classes with 30 % reassigned"), (rng.integers(0, 5, len(y)), y, "5 random groups")]


def check_shortcut_ceiling(fn: Callable[[np.ndarray, np.ndarray], float], quiet: bool = False) -> str:
    """Exercise (notebook 01): the best training accuracy a model that sees only the noise group can reach,
    ``ceiling(groups, labels)`` = the share of images whose label is the most common label of their group."""
    from .cluster import purity

    def body() -> str:
        for groups, labels, what in _cases_groups():
            got = _call(fn, groups, labels)
            want = purity(groups, labels)
            if not _close(got, want, 1e-6):
                return (f"not yet: for {what} the ceiling is {want:.3f}, yours gave {got}; for each group, count "
                        "its most common label, sum over groups, divide by the number of images")
        return f"{CORRECT}: this is the purity of the groups with respect to the attacker's labels"
    return _run(body, quiet)


def check_purity_completeness(fn: Callable[[np.ndarray], tuple[float, float]], quiet: bool = False) -> str:
    """Exercise (notebook 02): ``purity_and_completeness(table)`` from a contingency table (rows = clusters,
    columns = classes, entries = image counts); completeness = 1 − H(cluster | class) / H(cluster)."""
    from .cluster import cluster_metrics

    def body() -> str:
        for groups, labels, what in _cases_groups(1)[1:]:
            table = _contingency(groups, labels)
            got = _call(fn, table.copy())
            try:
                p, c = (float(v) for v in got)
            except (TypeError, ValueError):
                return f"not yet: return two numbers, (purity, completeness); yours gave {got!r}"
            want = cluster_metrics(groups, labels)
            if not _close(p, want["purity"], 1e-6):
                return f"not yet: purity for {what} should be {want['purity']:.3f}, yours gave {p:.3f}"
            if not _close(c, want["completeness"], 1e-4):
                hint = ""
                if _close(c, want["homogeneity"], 1e-4):
                    hint = " (that is homogeneity: condition on the class, not on the cluster)"
                return f"not yet: completeness for {what} should be {want['completeness']:.3f}, yours gave {c:.3f}{hint}"
        return f"{CORRECT}: purity reads the table by rows (clusters), completeness by columns (classes)"
    return _run(body, quiet)


def check_pattern_family(fn: Callable[[int, tuple[int, int], float, int], np.ndarray], quiet: bool = False,
                         eps: float = 16 / 255) -> str:
    """Exercise (notebook 03): ``my_patterns(groups, size, eps, seed)`` returns one δ per cluster as a float
    array of shape (groups, 3, H, W) with ‖δ‖∞ ≤ ε, different between clusters and the same for the same seed."""

    def body() -> str:
        groups, size = 10, (32, 32)
        d = np.asarray(_call(fn, groups, size, eps, 0), dtype=np.float64)
        if d.shape != (groups, 3, *size):
            return f"not yet: the shape should be (groups, 3, H, W) = {(groups, 3, *size)}, yours is {d.shape}"
        if not np.isfinite(d).all():
            return "not yet: δ has NaN or infinite values"
        if np.abs(d).max() > eps + 1e-6:
            return (f"not yet: max |δ| is {np.abs(d).max() * 255:.1f}/255, above ε = {eps * 255:.0f}/255: "
                    "scale or clip it (e.g. eps * np.tanh(z) or np.clip)")
        if np.abs(d).max() < 0.25 * eps:
            return (f"not yet: max |δ| is only {np.abs(d).max() * 255:.1f}/255: use the budget, a faint pattern "
                    "is a weak shortcut")
        flat = d.reshape(groups, -1)
        same = [(i, j) for i in range(groups) for j in range(i + 1, groups) if np.allclose(flat[i], flat[j])]
        if same:
            return f"not yet: clusters {same[0][0]} and {same[0][1]} get the same pattern; each cluster needs its own"
        again = np.asarray(_call(fn, groups, size, eps, 0), dtype=np.float64)
        if not np.allclose(again, d):
            return "not yet: the same seed should give the same patterns (use np.random.default_rng(seed))"
        return f"{CORRECT}: a valid pattern family (whether it protects is the attacker's verdict: run it)"
    return _run(body, quiet)


def check_worst_removed(fn: Callable[[float, Sequence[float], float], float], quiet: bool = False) -> str:
    """Exercise (notebook 04): ``judge(clean_peak, peaks_over_seeds, chance)`` = the smallest ``removed`` over
    the attacker seeds (judge a protection by its worst seed)."""

    def body() -> str:
        cases = [(0.60, [0.30, 0.35, 0.40], 0.10, (0.60 - 0.40) / 0.50),
                 (0.587, [0.365, 0.307], 0.10, (0.587 - 0.365) / 0.487),
                 (0.90, [0.80], 0.60, (0.90 - 0.80) / 0.30)]
        for clean, peaks, chance, want in cases:
            got = _call(fn, clean, list(peaks), chance)
            if not _close(got, want, 1e-3):
                best = max((clean - p) / (clean - chance) for p in peaks)
                hint = " (that is the best seed: a protector can count only on the worst)" if _close(got, best, 1e-3) else ""
                return f"not yet: judge({clean}, {peaks}, {chance}) should be {want:.3f}, yours gave {got}{hint}"
        return f"{CORRECT}: the worst seed is what a protector can count on"
    return _run(body, quiet)


def check_survival(fn: Callable[[np.ndarray, np.ndarray, str], float], quiet: bool = False) -> str:
    """Exercise (notebook 05): ``survival(clean, protected, spec)`` = mean over images of
    ⟨D(protected) − D(clean), δ⟩ / ‖δ‖² with δ = protected − clean and D = ``transform_images(·, spec)``."""
    from .defenses import noise_survival

    def body() -> str:
        rng = np.random.default_rng(0)
        clean = rng.integers(40, 216, size=(16, 32, 32, 3)).astype(np.uint8)
        block = np.kron(rng.choice([-16, 16], size=(16, 8, 8, 3)), np.ones((1, 4, 4, 1))).astype(np.int16)
        prot = np.clip(clean.astype(np.int16) + block, 0, 255).astype(np.uint8)
        for spec in ("grayscale", "jpeg:30", "jpeg:90"):
            got = _call(fn, clean, prot, spec)
            want = noise_survival(clean, prot, spec)
            if not _close(got, want, 2e-3):
                return (f"not yet: under {spec} the survival share is {want:.3f}, yours gave {got}; apply the "
                        "countermeasure to both images, subtract, project on δ, divide by ‖δ‖², average over images")
        return f"{CORRECT}: 1 = the noise passes unchanged, 0 = it is gone"
    return _run(body, quiet)


# ------------------------------------------------------------------------------------------------ widgets


def _bar(x: float, width: int = 160, colour: str = "#4c78a8") -> str:
    w = int(round(max(0.0, min(1.0, x)) * width))
    return (f'<span style="display:inline-block;width:{width}px;background:#eee;vertical-align:middle">'
            f'<span style="display:inline-block;width:{w}px;height:10px;background:{colour}"></span></span>')


def _static_box(children: list, info):
    """A ``VBox`` of ``children`` whose display data also carries ``info``'s HTML, so that a headless run
    (papermill, nbval) or an exported notebook shows the widget's current state instead of a placeholder."""
    import ipywidgets as W

    class StaticFallbackBox(W.VBox):
        def _repr_mimebundle_(self, **kwargs):
            data = super()._repr_mimebundle_(**kwargs) or {}
            data["text/html"] = (f"<div>{info.value}<br><small>(static view of an interactive widget: run the "
                                 "notebook to use it)</small></div>")
            return data

    return StaticFallbackBox(children)


def p_slider(sweep, labels: str = "fine", metrics: Sequence[str] = ("purity", "completeness", "nmi")):
    """Notebook 02: a slider over the p values of ``sweep`` (a DataFrame with columns p, labels and the
    ``metrics``, as the notebook's sweep makes it) that shows each metric as a number and a bar, with the
    p that maximises each. Nothing is recomputed when it moves. ``.slider`` and ``.info`` are attributes."""
    import ipywidgets as W

    s = sweep[sweep["labels"] == labels].sort_values("p")
    ps = [int(v) for v in s["p"]]
    rows = {int(r["p"]): r for _, r in s.iterrows()}
    best = {m: int(s.loc[s[m].idxmax(), "p"]) for m in metrics}
    slider = W.SelectionSlider(options=ps, value=ps[len(ps) // 2] if ps else None, description="p",
                               continuous_update=True)
    info = W.HTML()
    colours = {"purity": "#4c78a8", "completeness": "#e45756", "nmi": "#54a24b", "homogeneity": "#b279a2"}

    def render(*_):
        r = rows[slider.value]
        lines = "".join(f"<tr><td>{m}</td><td>{r[m]:.3f}</td><td>{_bar(float(r[m]), colour=colours.get(m, '#888'))}</td>"
                        f"<td><small>highest at p = {best[m]}</small></td></tr>" for m in metrics)
        info.value = (f"<b>p = {slider.value}</b> clusters against the {labels} labels"
                      f"<table>{lines}</table>")

    slider.observe(render, names="value")
    if ps:
        render()
    box = _static_box([slider, info], info)
    box.slider, box.info, box.best = slider, info, best
    return box


def jpeg_quality_slider(clean: np.ndarray, protected: dict, qualities: Sequence[int] = (5, 10, 20, 30, 50, 75, 90),
                        n_images: int = 200, stored: dict | None = None):
    """Notebook 05: a JPEG-quality slider over the share of each method's δ that a JPEG round-trip leaves
    (``ucs_lite.defenses.noise_survival``; no training). ``protected`` maps a method's name to its protected
    uint8 images (aligned with ``clean``); the shares are computed once for every quality on the first
    ``n_images`` images. ``stored`` (optional): {method: {quality: share}} measured elsewhere (for example the
    stored 10k study), shown beside as fixed markers. ``.slider``, ``.info`` and ``.shares`` are attributes."""
    import ipywidgets as W

    from .defenses import noise_survival

    x = np.asarray(clean[:n_images])
    shares = {m: {q: noise_survival(x, np.asarray(p[:n_images]), f"jpeg:{q}") for q in qualities}
              for m, p in protected.items()}
    stored = stored or {}
    slider = W.SelectionSlider(options=list(qualities), value=10 if 10 in qualities else qualities[0],
                               description="JPEG quality", continuous_update=True)
    info = W.HTML()
    palette = ["#4c78a8", "#e45756", "#54a24b", "#f58518", "#b279a2"]

    def render(*_):
        q = slider.value
        lines = []
        for i, (m, by_q) in enumerate(shares.items()):
            lines.append(f"<tr><td>{m}</td><td>{by_q[q]:.2f}</td><td>{_bar(by_q[q], colour=palette[i % 5])}</td>"
                         "<td><small>this run</small></td></tr>")
        for m, by_q in stored.items():
            if q in by_q:
                lines.append(f"<tr><td>{m}</td><td>{by_q[q]:.2f}</td><td>{_bar(by_q[q], colour='#999')}</td>"
                             "<td><small>stored 10k study</small></td></tr>")
        info.value = (f"<b>JPEG quality {q}</b>: share of δ left after one JPEG round-trip "
                      f"(1 = untouched, 0 = gone; first {len(x)} training images)<table>{''.join(lines)}</table>")

    slider.observe(render, names="value")
    render()
    box = _static_box([slider, info], info)
    box.slider, box.info, box.shares = slider, info, shares
    return box
