"""The claims a notebook makes about its own results, where they are enforced, and the checks table.

Two modes (:func:`checks_mode`):

* **student** (the default): a claim that does not hold is one line of the checks table — the claim, what was
  expected, what this run gave, and why a run can differ (attacker seed, torch threads, torch version, device,
  and every setting that differs from the measured configuration) — and the notebook goes on. Nothing raises.
* **strict** (``$UCS_LITE_STRICT=1``, which ``make test`` sets for the nbval run, or a notebook's
  ``strict_checks=True``): as before this mode existed. With ``strict_checks=None`` the claims are enforced
  where the run has the configuration they were measured at (:func:`claims_apply`, the one place that decides
  it) and a failed one raises ``AssertionError``; ``strict_checks=True`` enforces them at any configuration.

``strict_checks=False`` never enforces, in either mode. :func:`checks_table` shows every claim checked so far in
this kernel, in a notebook (HTML) and in plain Python (text).
"""
from __future__ import annotations

import html
import os
import sys
import time
import itertools
from dataclasses import dataclass

import numpy as np

from ..profiles import PROFILES
from ..records import record, recorded
from .state import NOTEBOOK_ENV, STATE

__all__ = ["one_of", "MEASURED_SEEDS", "STRICT_ENV", "measured_setup", "claims_apply", "checks_mode", "finish",
           "Claims", "CheckRow", "checks_rows", "checks_table", "clear_checks", "REPORTED_WHY", "WITHIN_SPREAD"]

#: Environment variable that turns strict mode on (``1``, ``true``, ``yes``); CI's nbval run sets it.
STRICT_ENV = "UCS_LITE_STRICT"


class one_of(tuple):
    """The values a knob may take in a measured configuration (:func:`measured_setup`), e.g. a seed among
    ``one_of(0, 1, 2, 3, 4)``. A plain list or value in a measured configuration means exactly that value."""

    def __new__(cls, *values):
        return super().__new__(cls, values)


#: Attacker seeds every enforced claim was measured over (benchmarks/claims.py → benchmarks/results/claims.md).
MEASURED_SEEDS = range(5)
#: Torch threads the claims were measured at (benchmarks/results/claims.md).
MEASURED_THREADS = (1, 2)


def measured_setup(**knobs) -> dict:
    """The configuration a notebook's claims were measured at: every value of the ``cpu-quick`` profile, on a
    CPU (device ``cpu``, precision ``cpu`` = float32), attacker seeds 0–4, plus the notebook's own ``knobs`` at
    their measured values (``p=10, eps=16, seed=one_of(0, ..., 4), ...``). Torch threads are not part of it:
    threads 1 and 2 gave the same verdicts (benchmarks/results/claims.md)."""
    return {"profile": "cpu-quick", **PROFILES["cpu-quick"],
            "seeds": one_of(*([s] for s in MEASURED_SEEDS)), "device": "cpu", "precision": "cpu", **knobs}


def _norm(v):
    if isinstance(v, (list, tuple)) and not isinstance(v, one_of):
        return tuple(_norm(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _norm(x)) for k, x in v.items()))
    if isinstance(v, (np.integer, np.floating)):
        return v.item()
    return v


def claims_apply(cfg: dict, measured: dict, strict: bool | None = None) -> tuple[bool, list[str]]:
    """Whether a notebook's claims are enforceable in this run, and why not. The one place that decides it.

    Compares every knob of ``measured`` (:func:`measured_setup`: the profile's values, device, precision, the
    notebook's knobs) with the run's settings ``cfg`` (:func:`resolve`); a knob of ``cfg`` that ``measured``
    does not name counts as a difference too (nobody measured it). ``measured`` values may be
    :class:`one_of` / ``range`` / ``set`` (any of these values). Returns ``(enforce, differences)``:
    enforced where nothing differs, or as ``strict`` says when it is not ``None`` (``strict_checks``).
    Whether an enforced claim may raise is :func:`checks_mode`'s business (student mode never raises)."""
    differ = []
    for k, want in measured.items():
        have = cfg.get(k, "<not set>")
        if isinstance(want, (one_of, range, set, frozenset)):
            ok = _norm(have) in {_norm(w) for w in want}
            shown = "one of " + ", ".join(repr(w) for w in want)
        else:
            ok = _norm(have) == _norm(want)
            shown = repr(want)
        if not ok:
            differ.append(f"{k}={have!r} (measured at {shown})")
    differ += [f"{k}={cfg[k]!r} (not part of the measured configuration)" for k in cfg if k not in measured]
    return (not differ) if strict is None else bool(strict), differ


def checks_mode(strict: bool | None = None) -> str:
    """``"strict"`` where ``strict`` (a notebook's ``strict_checks``) is True or ``$UCS_LITE_STRICT`` is set
    (``1`` / ``true`` / ``yes``), else ``"student"`` (failed claims are reported, never raised)."""
    if strict:
        return "strict"
    env = os.environ.get(STRICT_ENV, "").strip().lower()
    return "strict" if env in ("1", "true", "yes", "on") else "student"


@dataclass
class CheckRow:
    """One checked claim of this kernel, as the checks table shows it."""

    notebook: str
    claim: str
    expected: str
    value: str
    ok: bool
    reported: bool
    why: str = ""

    @property
    def verdict(self) -> str:
        """``holds``, ``differs`` or ``differs (reported only)``."""
        if self.ok:
            return "holds"
        return "differs (reported only)" if self.reported else "differs"


def _this_run(cfg: dict | None) -> str:
    """This run's facts that move learning outcomes: attacker seed, torch threads, torch version, device."""
    import torch

    cfg = cfg or {}
    seed = cfg.get("seed", cfg.get("seeds", "-"))
    threads = STATE.threads or torch.get_num_threads()
    device = cfg.get("device") or STATE.device or "cpu"
    return f"seed {seed}, {threads} torch thread{'s' if threads != 1 else ''}, torch {torch.__version__}, {device}"


def _why(cfg: dict | None, differ: list[str]) -> str:
    """Why this run's value can differ from the measured margin: this run's seed / threads / torch / device,
    what the margins were measured over, and each setting that differs from the measured configuration."""
    measured = (f"margins measured over attacker seeds {MEASURED_SEEDS.start}–{MEASURED_SEEDS.stop - 1}, "
                f"torch threads {' and '.join(map(str, MEASURED_THREADS))}, on a CPU "
                "(benchmarks/results/claims.md); another torch version or CPU moves numbers too")
    text = f"this run: {_this_run(cfg)}; {measured}"
    if differ:
        text += "; settings unlike the measured ones: " + "; ".join(differ)
    return text


def finish(claims: "Claims", cfg: dict, measured: dict, strict: bool | None = None,
           numbers: dict | None = None) -> str:
    """A notebook's last cell: record ``numbers`` (:func:`ucs_lite.records.record`), decide whether the
    claims are enforced (:func:`checks_mode`, :func:`claims_apply`), print why, record the runtime, then
    :meth:`Claims.report`. In student mode (the default) nothing raises; in strict mode a failed enforced claim
    raises ``AssertionError``. Returns the summary (e.g. ``"4/5 hold"``)."""
    for k, v in (numbers or {}).items():
        record(k, v)
    mode = checks_mode(strict)
    enforceable, differ = claims_apply(cfg, measured, strict)
    claims.enforce = enforceable and mode == "strict"
    claims.context = _why(cfg, differ)
    if mode == "student" and strict is None:
        print("Student mode: a claim that does not hold is shown in the checks table with why a run can differ; "
              f"nothing stops the notebook (instructors: strict_checks=True or {STRICT_ENV}=1 enforces them).")
    elif not differ:
        print("This run has the configuration the claims were measured at (benchmarks/results/claims.md): "
              + ("they are enforced." if claims.enforce else "strict_checks=False: they are reported, not enforced."))
    else:
        print("This run differs from the configuration the claims were measured at: " + "; ".join(differ) + ".")
        print("strict_checks=True: the claims are enforced anyway." if claims.enforce else
              "So the claims below are reported, not enforced.")
    if STATE.t_start is not None:
        record("runtime_s", round(time.time() - STATE.t_start, 1))
    summary = claims.report()
    record("claims", summary)
    print(f"notebook ran in {recorded().get('runtime_s', '?')} s; recorded numbers: {recorded()}")
    return summary


_SERIALS = itertools.count()
#: Why a claim made with ``reported=True`` is never enforced.
REPORTED_WHY = "not measured over seeds"
#: Why a measured claim is only reported: its effect held in every claims run but is under twice its spread over
#: attacker seeds 0–2 (issue 33's rule for what a notebook states from its own run; benchmarks/claims.py).
WITHIN_SPREAD = "its effect is under twice its spread over attacker seeds 0–2 at this size (benchmarks/results/claims.md)"


class Claims:
    """The claims a notebook makes about its results, checked in its last cells.

    Margins on learning outcomes (accuracies, purities) were measured at the notebook's default size over
    attacker seeds 0–4 and torch threads 1 and 2 (``benchmarks/claims.py`` →
    ``benchmarks/results/claims.md``); with ``enforce`` a failed claim raises ``AssertionError`` in
    :meth:`report` (:func:`finish` sets ``enforce`` only in strict mode). Otherwise the same checks are
    printed and land in the checks table (:func:`checks_table`). Invariants (the ε bound, an untouched test set)
    belong in plain ``assert`` statements instead: they hold at any size.

    :meth:`at_least` / :meth:`at_most` record each numeric claim's *margin* (how far the measured value is
    on the right side of its bound; negative = failed); :meth:`report` records them all as
    ``claim_margins`` (see :func:`ucs_lite.records.record`), which is how the smallest margins are
    collected.
    """

    def __init__(self, enforce: bool = True) -> None:
        self.enforce = bool(enforce)
        self.results: list[tuple[bool, str, str]] = []
        self.margins: dict[str, float] = {}
        #: claims that are only ever reported (``reported=True`` or a reason): never enforced, claim -> why
        self.reported: dict[str, str] = {}
        self.reported_margins: dict[str, float] = {}
        #: each numeric claim's measured value, bound and sense (">=" / "<="), recorded as ``claim_values``
        self.values: dict[str, dict] = {}
        #: why this run's values can differ from the measured ones (set by :func:`finish`)
        self.context: str = ""
        #: this object's place in the kernel's checks table (a re-reported object replaces its rows)
        self.serial = next(_SERIALS)

    def check(self, ok, claim: str, detail=None, reported: bool | str = False) -> bool:
        """Record one yes/no claim (``ok`` truthy when it holds) with an optional measured ``detail``;
        ``reported``: a claim printed but never enforced — ``True`` (its margin was not measured over seeds) or
        the reason as text (e.g. the effect lies within its seed spread at this size)."""
        ok = bool(ok)
        self.results.append((ok, claim, "" if detail is None else str(detail)))
        if reported:
            self.reported[claim] = reported if isinstance(reported, str) else REPORTED_WHY
        return ok

    def _bound(self, margin: float, shown: str, claim: str, detail, reported: bool | str) -> bool:
        (self.reported_margins if reported else self.margins)[claim] = round(margin, 4)
        return self.check(margin >= 0, claim, shown + (f"; {detail}" if detail else ""), reported=reported)

    def at_least(self, value: float, bound: float, claim: str, detail=None, reported: bool | str = False,
                 reference: float | None = None) -> bool:
        """Claim ``value >= bound``; records the margin ``value - bound``. ``reference``: the quantity the bound
        is built from (``bound = reference + slack``), so the stated *effect* ``value - reference`` is recorded
        too (``benchmarks/claims.py`` compares it with its spread over attacker seeds)."""
        margin = float(value) - float(bound)
        self.values[claim] = {"value": round(float(value), 6), "bound": round(float(bound), 6), "sense": ">="}
        if reference is not None:
            self.values[claim]["effect"] = round(float(value) - float(reference), 6)
        return self._bound(margin, f"{float(value):.3f} ≥ {float(bound):.3f}, margin {margin:+.3f}", claim, detail,
                           reported)

    def at_most(self, value: float, bound: float, claim: str, detail=None, reported: bool | str = False,
                reference: float | None = None) -> bool:
        """Claim ``value <= bound``; records the margin ``bound - value``. ``reference``: the quantity the bound
        is built from (``bound = reference - slack``); the stated effect ``reference - value`` is recorded too."""
        margin = float(bound) - float(value)
        self.values[claim] = {"value": round(float(value), 6), "bound": round(float(bound), 6), "sense": "<="}
        if reference is not None:
            self.values[claim]["effect"] = round(float(reference) - float(value), 6)
        return self._bound(margin, f"{float(value):.3f} ≤ {float(bound):.3f}, margin {margin:+.3f}", claim, detail,
                           reported)

    @property
    def failed(self) -> list[str]:
        """Failed claims that count (not the ``reported`` ones)."""
        return [c for ok, c, _ in self.results if not ok and c not in self.reported]

    def rows(self) -> list[CheckRow]:
        """This object's claims as checks-table rows."""
        notebook = os.environ.get(NOTEBOOK_ENV, "")
        context = self.context or _why(None, [])
        out = []
        for ok, claim, detail in self.results:
            v = self.values.get(claim)
            if v:
                expected = f"{'≥' if v['sense'] == '>=' else '≤'} {v['bound']:.3f}"
                value = f"{v['value']:.3f}"
            else:
                expected, value = "holds", (detail or ("yes" if ok else "no"))
            out.append(CheckRow(notebook, claim, expected, value, ok, claim in self.reported,
                                "" if ok else context))
        return out

    def report(self) -> str:
        """Print every claim with ✓ / ✗ (a failed one with why a run can differ), add them to the checks table
        (:func:`checks_table`), and raise ``AssertionError`` listing the failed ones when ``enforce``.
        Returns a short summary such as ``"5/5 hold"`` (recorded by the notebooks)."""
        if self.margins:
            record("claim_margins", dict(self.margins))
            record("claim_values", {c: self.values[c] for c in self.margins if c in self.values})
        if self.reported_margins:
            record("reported_margins", dict(self.reported_margins))
        _log_rows(self)
        for ok, claim, detail in self.results:
            tag = f"  (reported, never enforced: {self.reported[claim]})" if claim in self.reported else ""
            print(f"{'✓' if ok else '✗'} {claim}" + (f"  [{detail}]" if detail else "") + tag)
        counted = [r for r in self.results if r[1] not in self.reported]
        summary = f"{len(counted) - len(self.failed)}/{len(counted)} hold"
        if self.failed and self.enforce:
            raise AssertionError(f"{len(self.failed)} claim(s) failed at the measured size: " + "; ".join(self.failed))
        if self.failed:
            print(f"{summary}: the checks are reported, not enforced here. Why a run can differ: "
                  f"{self.context or _why(None, [])}.")
        else:
            print(f"all claims hold ({summary})" + ("" if self.enforce else "; not enforced here"))
        return summary


# ---------------------------------------------------------------- the checks table of this kernel

#: Every Claims object reported in this kernel, in order (serial -> rows).
_LOG: dict[int, list[CheckRow]] = {}


def _log_rows(claims: Claims) -> None:
    _LOG[claims.serial] = claims.rows()


def checks_rows() -> list[CheckRow]:
    """Every claim checked so far in this kernel (:meth:`Claims.report`), in order."""
    return [r for rows in _LOG.values() for r in rows]


def clear_checks() -> None:
    """Forget the checks of this kernel (tests)."""
    _LOG.clear()


_COLUMNS = ("notebook", "claim", "expected", "this run", "verdict", "why a run can differ")


def _cells(r: CheckRow) -> tuple[str, ...]:
    return (r.notebook or "-", r.claim, r.expected, r.value, r.verdict, r.why)


class ChecksTable:
    """The checks table: HTML in a notebook (``_repr_html_``), aligned text elsewhere (``str``)."""

    def __init__(self, rows: list[CheckRow]) -> None:
        self.rows = rows

    def __str__(self) -> str:
        if not self.rows:
            return "checks: no claim checked yet in this kernel"
        held = sum(r.ok for r in self.rows)
        lines = [f"checks: {held}/{len(self.rows)} claims hold in this kernel"]
        for r in self.rows:
            mark = "✓" if r.ok else "✗"
            line = f"{mark} [{r.notebook or '-'}] {r.claim}: expected {r.expected}, this run {r.value} — {r.verdict}"
            lines.append(line + (f" ({r.why})" if r.why else ""))
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        if not self.rows:
            return f"<p>{html.escape(str(self))}</p>"
        head = "".join(f"<th style='text-align:left'>{c}</th>" for c in _COLUMNS)
        body = []
        for r in self.rows:
            style = "" if r.ok else " style='background:#fff3cd'"
            body.append(f"<tr{style}>" + "".join(f"<td style='text-align:left'>{html.escape(c)}</td>"
                                                 for c in _cells(r)) + "</tr>")
        held = sum(r.ok for r in self.rows)
        return (f"<p><b>Checks</b>: {held}/{len(self.rows)} claims hold in this kernel. A claim that differs is not "
                f"an error: the 'why' column says what makes this run unlike the measured ones.</p>"
                f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def _in_ipython_kernel() -> bool:
    ip = sys.modules.get("IPython")
    shell = ip.get_ipython() if ip is not None and hasattr(ip, "get_ipython") else None
    return shell is not None and type(shell).__name__ != "TerminalInteractiveShell"


def checks_table() -> None:
    """Show every claim checked so far in this kernel — claim, expected, this run's value, verdict, and for
    one that differs why a run can differ. In a notebook it is displayed as HTML (with a text fallback),
    elsewhere printed as text; returns nothing (so a last-line call shows it once). Never raises on a failed
    claim. :func:`checks_rows` gives the rows as data."""
    table = ChecksTable(checks_rows())
    if _in_ipython_kernel():
        from IPython.display import display

        display(table)
    else:
        print(table)
