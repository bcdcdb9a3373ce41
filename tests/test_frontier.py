"""The equal-protection speed-up of benchmarks/frontier.py, on synthetic numbers (no training)."""
import importlib.util
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location("frontier", Path(__file__).resolve().parents[1] / "benchmarks" / "frontier.py")
frontier = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(frontier)

CLEAN = {"fine": 0.40, "coarse": 0.90}
CHANCE = {"fine": 0.10, "coarse": 0.60}


def prot(fine: list[float], coarse: list[float]) -> dict:
    runs = {"fine": [{"peak": a, "final": a - 0.01} for a in fine],
            "coarse": [{"peak": a, "final": a - 0.01} for a in coarse]}
    return frontier.protection(runs, CLEAN, CHANCE)


def test_protection_worst_seed_spread_and_removed():
    p = prot([0.20, 0.25, 0.22], [0.80, 0.85, 0.84])
    assert p["fine"]["peak"] == 0.25 and p["fine"]["best_peak"] == 0.20
    assert p["fine"]["spread"] == pytest.approx(0.05)
    assert p["fine"]["removed"] == pytest.approx((0.40 - 0.25) / 0.30)
    assert p["fine"]["final"] == pytest.approx(0.24)
    assert p["coarse"]["removed"] == pytest.approx((0.90 - 0.85) / 0.30)


def test_cheapest_matching_configuration_sets_the_speedup():
    official = {"name": "official E=1", "seconds": 1000.0, "seconds_full": 50000.0,
                "protection": prot([0.22, 0.24, 0.23], [0.86, 0.87, 0.87])}
    ours = [{"name": "cheap but weak", "seconds": 10.0, "protection": prot([0.33, 0.34, 0.35], [0.87, 0.87, 0.88])},
            # worst fine 0.26 > 0.24, but within the larger spread (0.05): counts as equal
            {"name": "within spread", "seconds": 200.0, "protection": prot([0.21, 0.26, 0.22], [0.86, 0.86, 0.87])},
            {"name": "better, dearer", "seconds": 400.0, "protection": prot([0.15, 0.16, 0.16], [0.80, 0.81, 0.80])}]
    s = frontier.equal_protection_speedup(official, ours)
    assert s["matched_by"] == "within spread" and s["reason"] is None
    assert s["speedup"] == pytest.approx(50000 / 200) and s["speedup_measured"] == pytest.approx(1000 / 200)


def test_no_match_gives_null_with_a_reason():
    official = {"name": "official E=1", "seconds": 1000.0, "seconds_full": 50000.0,
                "protection": prot([0.22, 0.22, 0.23], [0.86, 0.87, 0.87])}
    ours = [{"name": "weak", "seconds": 10.0, "protection": prot([0.30, 0.31, 0.31], [0.86, 0.86, 0.86])},
            # good on fine, but its coarse worst seed is well above the official run's
            {"name": "fine only", "seconds": 20.0, "protection": prot([0.20, 0.20, 0.21], [0.93, 0.94, 0.94])}]
    s = frontier.equal_protection_speedup(official, ours)
    assert s["speedup"] is None and s["speedup_measured"] is None
    assert "none of our 2" in s["reason"] and "official E=1" in s["reason"]
    assert frontier.equal_protection_speedup(official, [])["speedup"] is None


def test_pareto_front_keeps_only_undominated_points():
    rows = [{"name": n, "seconds": s, "protection": prot([a, a, a], [0.9, 0.9, 0.9])}
            for n, s, a in (("a", 0, 0.30), ("b", 100, 0.32), ("c", 200, 0.25), ("d", 300, 0.25), ("e", 900, 0.20))]
    assert frontier.pareto(rows) == ["a", "c", "e"]


def test_shared_setup_enters_both_sides_and_zero_cost_is_not_infinite():
    official = {"name": "official E=1", "seconds": 1000.0, "seconds_full": 50000.0,
                "protection": prot([0.30, 0.31, 0.31], [0.87, 0.87, 0.87])}
    free = [{"name": "random-cluster", "seconds": 0.0, "protection": prot([0.29, 0.30, 0.30], [0.86, 0.87, 0.87])}]
    s = frontier.equal_protection_speedup(official, free, shared_seconds=100.0)
    assert s["matched_by"] == "random-cluster" and s["speedup"] == pytest.approx(50100 / 100)
    assert s["speedup_measured"] == pytest.approx(1100 / 100)
    undefined = frontier.equal_protection_speedup(official, free)
    assert undefined["speedup"] is None and "0 s" in undefined["reason"]


def test_choose_default_cheapest_within_spread_of_best_in_budget():
    def row(name, kind, seconds, peak, spread=0.02, **options):
        return {"name": name, "kind": kind, "seconds": seconds, "options": options,
                "protection": {"fine": {"peak": peak, "spread": spread}}}

    rows = [row("random-cluster", "random-cluster", 0.0, 0.33), row("uc 30", "uc", 400.0, 0.31),
            row("official E=1", "official", 1100.0, 0.22, epochs=1),
            row("official E=1, M=50", "official", 110.0, 0.235, epochs=1, max_images=50)]
    # at N = 500 everything fits 2000 s: best is official E=1 (0.22); M=50 is within its spread and cheaper
    assert frontier.choose_default(rows, 2000)["name"] == "official E=1, M=50"
    # at N = 10k the full official schedule costs 20× more and drops out; M=50 does not grow with N
    pick = frontier.choose_default(rows, 900, n_to=10000)
    assert pick["name"] == "official E=1, M=50" and pick["best_name"] == "official E=1, M=50"
    assert frontier.choose_default(rows, 100)["name"] == "random-cluster"
    assert frontier.choose_default([r for r in rows if r["seconds"] > 0], 50) is None
    assert frontier.scaled_seconds(rows[2], 500, 10000) == 22000.0
    assert frontier.scaled_seconds(rows[3], 500, 10000) == 110.0
