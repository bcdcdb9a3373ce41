"""Generated blocks of docs/countermeasures.md (and README's countermeasure sentences), from
benchmarks/results/countermeasures.json — written by ``python benchmarks/countermeasures.py report``, which stores
``summary`` (worst over attacker seeds, ``removed`` from :func:`ucs_lite.metrics.removed`) beside the raw runs.
JSON only, like :mod:`docs_tables`."""
from __future__ import annotations

from docs_tables import Results, block, f2, f3, md_table, value

SRC = "countermeasures.json"
#: display order of the countermeasures; after the first four, reported only (issue 36 adds what an upload does)
DEFENSES = ("none", "jpeg:10", "grayscale", "grayscale+jpeg:10", "jpeg:75", "down:0.5+jpeg:75", "jpeg:90", "jpeg:50",
            "blur:1", "jpeg:30", "strong-aug")
#: issue 36: an attacker's best move among these decides the default (the worst case over them, three views)
DEFAULT_RULE = ("none", "jpeg:75", "jpeg:10", "grayscale")
#: the re-encoding an upload does without shrinking the image (issue 36: JPEG 90 / 75 / 50 beside none)
FULL_SIZE_JPEG = ("none", "jpeg:90", "jpeg:75", "jpeg:50")
#: issue 36's table: the countermeasures an ordinary upload and a deliberate attacker apply
UPLOAD_TABLE = ("none", "jpeg:75", "down:0.5+jpeg:75", "jpeg:10", "grayscale")
#: the candidates for protect's default (the study construction behind each method)
CANDIDATES = ("gen-cluster", "jpeg-mirror-distinct", "em-cluster-eot-long")
#: issue 36's screens of label-free forms of the robust literature's constructions (CIFAR-10 fine, attacker seed 0)
SCREENS = ("conv-cluster", "conv-cluster2", "offset-cluster", "offset-eot", "offset-eot-q")
SCREEN_DEFENSES = ("none", "jpeg:10", "grayscale", "jpeg:75")
#: the issue's criterion: the worst case over these
WORST_OF = ("none", "jpeg:10", "grayscale")


def _summary(r: Results) -> dict:
    return r.json(SRC)["summary"]


def _cell(c: dict | None) -> str:
    """A ``summary["worst"]`` entry as "removed (seeds)"; "—" when the run was not made."""
    return "—" if c is None else f"{f2(c['worst_removed_peak'])} ({len(c['seeds'])})"


def _worst_of(entries) -> float | None:
    """The smallest ``worst_removed_peak`` of ``entries``; None until every one of them exists."""
    entries = list(entries)
    return min(c["worst_removed_peak"] for c in entries) if all(entries) else None


def removed_table(summary: dict, data: str, view: str) -> str:
    """Markdown: one row per construction with its worst-of-seeds ``removed`` (peak) under each countermeasure that
    was run, the worst over :data:`WORST_OF` (— until all three exist) and the attacker seeds behind the row; a first
    row gives the clean attacker's peak under each countermeasure (the reference ``removed`` is measured against)."""
    cells = {(w["noise"], w["defense"]): w for w in summary["worst"] if w["data"] == data and w["view"] == view}
    defenses = [d for d in DEFENSES if any(k[1] == d for k in cells)]
    clean = {c["defense"]: c for c in summary["clean"] if c["data"] == data and c["view"] == view}
    noises = list(dict.fromkeys(k[0] for k in cells))
    rows = [["*clean attacker, peak (mean)*", *[f3(clean[d]["peak"]) if d in clean else "—" for d in defenses], ""]]
    for n in noises:
        rows.append([n, *[_cell(cells.get((n, d))) for d in defenses],
                     f2(_worst_of(cells.get((n, d)) for d in WORST_OF))])
    return md_table(["construction", *defenses, "worst of none / jpeg:10 / grayscale"], rows) + (
        "\n\n(n): the number of attacker seeds the cell is the worst of.")


#: the issue's three views and the constructions its note compares (the default and the best robust one; others
#: join the headline table once they have runs on a view)
HEADLINE_VIEWS = (("c10", "fine"), ("c100", "fine"), ("c100", "coarse"))
HEADLINE = ("gen-cluster", "jpeg-mirror-distinct", "em-cluster-eot-long", "em-cluster-eot-long:first-craft",
            "em-cluster-eot", "em-cluster-eot-jpeg")
#: the ``--method`` that crafts a study construction (tests/test_robust.py checks the study's options against it)
METHOD_OF = {"gen-cluster": "gen-cluster", "jpeg-mirror-distinct": "jpeg-cluster", "em-cluster-eot-long": "eot-cluster"}


def _view_name(s: dict, data: str, view: str) -> str:
    """A view as the tables name it: "CIFAR-100 dev fine"."""
    return f"{s['datasets'][data]['what'].split(' (')[0]} {view}"


def _name(noise: str) -> str:
    """A construction as the tables show it: its study name, and the method that crafts it where there is one."""
    return f"`{noise}`" + (f" (`{METHOD_OF[noise]}`)" if noise in METHOD_OF and METHOD_OF[noise] != noise else "")


@block("countermeasures-headline", SRC, rows="`summary`: removed (peak), worst over the attacker seeds listed")
def _countermeasures_headline(r: Results) -> str:
    """One row per (view, construction) of :data:`HEADLINE`: worst-of-seeds ``removed`` under none / JPEG 10 /
    grayscale / both, the worst of the first three, and the seeds behind each cell."""
    s = _summary(r)
    cells = {(w["data"], w["view"], w["noise"], w["defense"]): w for w in s["worst"]}
    rows = []
    for data, view in HEADLINE_VIEWS:
        for n in HEADLINE:
            got = [cells.get((data, view, n, d)) for d in DEFENSES[:4]]
            if any(got):
                rows.append([_view_name(s, data, view), _name(n), *map(_cell, got),
                             f2(_worst_of(got[:3]))])
    return md_table(["view", "construction", *DEFENSES[:4], "worst of the first three"], rows) + (
        "\n\n(n): the number of attacker seeds the cell is the worst of.")


@block("countermeasures-over-views", SRC, rows="`summary`: removed (peak), worst over the attacker seeds and the three views")
def _countermeasures_over_views(r: Results) -> str:
    """One row per construction of :data:`HEADLINE` run under none / JPEG 10 / grayscale on all three views: the
    smallest worst-of-seeds ``removed`` over :data:`HEADLINE_VIEWS` in each column (— until the column has all three
    views), the view it comes from, and the fewest attacker seeds behind any of the three cells."""
    short = {"c10": "C10", "c100": "C100"}

    def cell(n: str, d: str | None) -> str:
        try:
            v, (data, view), seeds = _over_views(r, n, d)
        except KeyError:  # a view has no runs under d yet
            return "—"
        return f2(v) if d is None else f"{f2(v)} ({short[data]} {view}; {seeds})"

    rows = []
    for n in HEADLINE:
        worst = cell(n, None)
        if worst != "—":
            rows.append([_name(n), *[cell(n, d) for d in DEFENSES[:4]], worst])
    return md_table(["construction", *DEFENSES[:4], "worst of the first three"], rows) + (
        "\n\n(view; n): the view with the smallest value and the fewest attacker seeds behind any of the three views' "
        "cells; — until a column has runs on all three views. A construction is listed once it has runs under none, "
        "JPEG 10 and grayscale on all three.")


def _views(r: Results) -> list[tuple[str, str]]:
    return list(dict.fromkeys((w["data"], w["view"]) for w in _summary(r)["worst"]))


@block("countermeasures-removed", SRC, rows="`summary`: removed (peak), worst over the attacker seeds listed")
def _countermeasures_removed(r: Results) -> str:
    s = _summary(r)
    parts = []
    for data, view in _views(r):
        parts += [f"**{s['datasets'][data]['what']}, {view} labels**", "", removed_table(s, data, view), ""]
    return "\n".join(parts).rstrip()


@block("countermeasures-survival", SRC, rows="`survival`: mean over 300 training images, no training")
def _countermeasures_survival(r: Results) -> str:
    rows = r.json(SRC)["survival"]
    ds = list(dict.fromkeys(k for x in rows for k in x if k not in ("data", "noise")))
    return md_table(["data", "construction", *ds], [[x["data"], x["noise"], *[f2(x.get(d)) for d in ds]] for x in rows]) + (
        "\n\n— : not measured for that construction (the upload columns were added in issue 36).")


@block("countermeasures-visibility", SRC, rows="`visibility`: first 200 training images, mean per image")
def _countermeasures_visibility(r: Results) -> str:
    rows = r.json(SRC)["visibility"]
    return md_table(["data", "construction", "PSNR dB", "SSIM", "ΔE00 mean", "pixels with ΔE00 > 2.3"],
                    [[x["data"], x["noise"], f"{x['psnr']:.1f}", f3(x["ssim"]), f2(x["de2000_mean"]),
                      f2(x["de2000_share_jnd"])] for x in rows])


#: short names of ucs_lite.noise.jpeg_grid.BANDS for the inline keys (the bands themselves are read from the rows)
BAND_TAGS = {"luma DC": "dc", "luma AC 1-5": "low", "luma AC 6-63": "high", "chroma": "chroma"}


@block("countermeasures-bands", SRC, rows="`bands`: energy over the first 300 training images' δ, no training")
def _countermeasures_bands(r: Results) -> str:
    rows = r.json(SRC)["bands"]
    BANDS = list(rows[0]["share"])
    return md_table(["data", "construction", *[f"share: {b}" for b in BANDS], *[f"JPEG 10 keeps: {b}" for b in BANDS],
                     "JPEG 10 keeps: all"],
                    [[x["data"], x["noise"], *[f2(x["share"][b]) for b in BANDS],
                      *["—" if x["kept"]["jpeg:10"][b] is None else f2(x["kept"]["jpeg:10"][b]) for b in BANDS],
                      f2(sum(x["share"][b] * (x["kept"]["jpeg:10"][b] or 0.0) for b in BANDS))] for x in rows])


@block("countermeasures-vs-image", SRC, rows="`bands`: `image_share` and `vs_image`, first 300 training images, no training")
def _countermeasures_vs_image(r: Results) -> str:
    rows = [x for x in r.json(SRC)["bands"] if "vs_image" in x]
    BANDS = list(rows[0]["share"])
    images = [[x["data"], "*the images' own energy (share)*", *[f2(x["image_share"][b]) for b in BANDS]]
              for x in {x["data"]: x for x in rows}.values()]
    return md_table(["data", "construction", *BANDS],
                    images + [[x["data"], x["noise"], *[f2(x["vs_image"][b]) for b in BANDS]] for x in rows])


def _one(rows: list[dict], what: str, **match) -> dict:
    """The one row of ``rows`` whose fields equal ``match``; KeyError (naming ``what``) for none or several."""
    hits = [x for x in rows if all(x[k] == v for k, v in match.items())]
    if len(hits) != 1:
        raise KeyError(f"{SRC}: {len(hits)} {what} for {tuple(match.values())}")
    return hits[0]


def _band(r: Results, data: str, noise: str) -> dict:
    return _one(r.json(SRC)["bands"], "band rows", data=data, noise=noise)


def _run(r: Results, data: str, view: str, noise: str, defense: str, seed: int = 0) -> dict:
    return _one(r.json(SRC)["runs"], "runs", data=data, view=view, noise=noise, defense=defense, seed=seed)


def _worst(r: Results, data: str, view: str, noise: str, defense: str | None) -> float:
    """``removed`` (peak), worst over the stored seeds, under ``defense``; with ``None`` the worst over
    :data:`WORST_OF` (KeyError until all three exist)."""
    cells = {w["defense"]: w for w in _summary(r)["worst"] if (w["data"], w["view"], w["noise"]) == (data, view, noise)}
    wanted = WORST_OF if defense is None else (defense,)
    missing = [d for d in wanted if d not in cells]
    if missing:
        raise KeyError(f"{SRC}: no {data} {view} {noise} runs under {missing}")
    return min(cells[d]["worst_removed_peak"] for d in wanted)


def _survival(r: Results, data: str, noise: str) -> dict:
    """The one ``survival`` row of (data, noise): the share of δ each countermeasure keeps."""
    return _one(r.json(SRC)["survival"], "survival rows", data=data, noise=noise)


def _seeds(r: Results, data: str, view: str, noise: str, defense: str) -> int:
    """How many attacker seeds the stored worst ``removed`` of (data, view, noise, defense) is the worst of."""
    return len(_one(_summary(r)["worst"], "summary rows", data=data, view=view, noise=noise, defense=defense)["seeds"])


def _over_views(r: Results, noise: str, defense: str | None) -> tuple[float, tuple[str, str], int]:
    """The smallest worst-of-seeds ``removed`` of ``noise`` over :data:`HEADLINE_VIEWS` under ``defense`` (``None``:
    the worst over :data:`WORST_OF`), the (data, view) it comes from and the fewest attacker seeds
    behind any of the cells; KeyError until every view has the runs."""
    value_, where = min((_worst(r, data, view, noise, defense), (data, view)) for data, view in HEADLINE_VIEWS)
    seeds = min(_seeds(r, data, view, noise, d) for data, view in HEADLINE_VIEWS
                for d in (WORST_OF if defense is None else (defense,)))
    return value_, where, seeds


def _worst_cell(r: Results, data: str, view: str, noise: str, defense: str) -> dict | None:
    """The ``summary["worst"]`` entry of (data, view, noise, defense), or None when not run."""
    hits = [w for w in _summary(r)["worst"] if (w["data"], w["view"], w["noise"], w["defense"]) == (data, view, noise,
                                                                                                      defense)]
    return hits[0] if hits else None


def default_rule(r: Results) -> dict[str, dict]:
    """Issue 36's rule for ``protect``'s default: for each candidate, the smallest worst-of-seeds ``removed`` over
    :data:`HEADLINE_VIEWS` × :data:`DEFAULT_RULE`, with the fewest attacker seeds behind any cell (``value`` None
    while a cell is missing). The default is the candidate with the largest value."""
    out = {}
    for n in CANDIDATES:
        cells = [_worst_cell(r, data, view, n, d) for data, view in HEADLINE_VIEWS for d in DEFAULT_RULE]
        out[n] = {"value": None if not all(cells) else min(c["worst_removed_peak"] for c in cells),
                  "seeds": min((len(c["seeds"]) for c in cells if c), default=0),
                  "missing": sum(c is None for c in cells)}
    return out


@block("countermeasures-upload", SRC, rows="`summary`: removed (peak), worst over the attacker seeds listed; "
       "`survival`: share of δ kept, 300 training images")
def _countermeasures_upload(r: Results) -> str:
    """Issue 36's table: per view and candidate, worst-of-seeds ``removed`` under :data:`UPLOAD_TABLE`, the worst
    over :data:`DEFAULT_RULE`, and the share of δ that JPEG 75 and an upload keep (no training)."""
    s = _summary(r)
    surv = {(x["data"], x["noise"]): x for x in r.json(SRC)["survival"]}
    rows = []
    for data, view in HEADLINE_VIEWS:
        rows.append([f"*{_view_name(s, data, view)}: clean attacker, peak (mean)*",
                     *[next((f3(c["peak"]) for c in s["clean"] if (c["data"], c["view"], c["defense"]) == (data, view, d)),
                            "—") for d in UPLOAD_TABLE], "", "", ""])
        for n in CANDIDATES:
            got = {d: _worst_cell(r, data, view, n, d) for d in UPLOAD_TABLE}
            sv = surv.get((data, n), {})
            rows.append([_name(n), *[_cell(got[d]) for d in UPLOAD_TABLE],
                         f2(_worst_of(_worst_cell(r, data, view, n, d) for d in DEFAULT_RULE)),
                         f2(sv.get("jpeg:75")), f2(sv.get("down:0.5+jpeg:75"))])
    return md_table(["view / construction", *UPLOAD_TABLE, "worst of none / jpeg:75 / jpeg:10 / grayscale",
                     "δ kept: JPEG 75", "δ kept: upload"], rows) + (
        "\n\n(n): the number of attacker seeds the cell is the worst of; — not run yet. Upload: half size, then JPEG 75 "
        "(`down:0.5+jpeg:75`), scaled back to 32 px for training. δ kept: the survival share on the same data set's "
        "first 300 training images (one row per data set, so both CIFAR-100 views show the same share).")


@block("countermeasures-default-rule", SRC, rows="`summary`: removed (peak), worst over seeds, views and none / "
       "jpeg:75 / jpeg:10 / grayscale")
def _countermeasures_default_rule(r: Results) -> str:
    """One row per candidate: :func:`default_rule`'s value, the fewest seeds behind it, the cells still missing."""
    rule = default_rule(r)
    return md_table(["construction", "worst over the three views and none / JPEG 75 / JPEG 10 / grayscale",
                     "fewest attacker seeds behind a cell", "cells not run yet"],
                    [[_name(n), f2(v["value"]), str(v["seeds"]), str(v["missing"])] for n, v in rule.items()])


@block("countermeasures-screens", SRC, rows="`runs`: removed (peak) at attacker seed 0 against the clean run of the "
       "same countermeasure; `survival`: share of δ kept, 300 training images")
def _countermeasures_screens(r: Results) -> str:
    """Issue 36's screens on CIFAR-10 fine, attacker seed 0: each new family's ``removed`` under
    :data:`SCREEN_DEFENSES` beside the two robust methods', and the share of δ each countermeasure keeps."""
    surv = {x["noise"]: x for x in r.json(SRC)["survival"] if x["data"] == "c10"}
    cells = {(w["noise"], w["defense"]): w for w in _summary(r)["worst"] if (w["data"], w["view"]) == ("c10", "fine")}

    def seed0(n: str, d: str) -> str:
        c = cells.get((n, d))
        if c is None or 0 not in c["seeds"]:
            return "—"
        run = _run(r, "c10", "fine", n, d)
        clean = _run(r, "c10", "fine", "clean", d)
        return f2((clean["peak"] - run["peak"]) / (clean["peak"] - run["chance"]))

    rows = []
    for n in (*SCREENS, "em-cluster-eot-long", "jpeg-mirror-distinct"):
        got = [seed0(n, d) for d in SCREEN_DEFENSES]
        if n in SCREENS and all(g == "—" for g in got):
            continue
        worst = [float(g) for g in got[:3] if g != "—"]
        sv = surv.get(n, {})
        rows.append([_name(n), *got, f2(min(worst)) if len(worst) == 3 else "—",
                     *[f2(sv.get(d)) for d in ("jpeg:10", "grayscale", "jpeg:75")]])
    return md_table(["construction", *SCREEN_DEFENSES, "worst of none / jpeg:10 / grayscale",
                     "δ kept: JPEG 10", "δ kept: grayscale", "δ kept: JPEG 75"], rows)


@block("countermeasures-photos", SRC, rows="`photos`: share of δ kept, mean over scikit-image's four photos at their "
       "own size (the smallest photo's share in brackets), no training")
def _countermeasures_photos(r: Results) -> str:
    """Issue 36 (3): per folder method and strength, the share of δ each photo countermeasure keeps."""
    rows = r.json(SRC)["photos"]
    specs = list(rows[0]["kept"])
    shown = {"jpeg-tile-native": ("the `jpeg-cluster` tile on each photo's own 8×8 grid", "ε = 16/255, luminance")}
    return md_table(["what folder mode writes", "strength", *specs],
                    [[*shown.get(x["method"], (f"`{x['method']}`", x["strength"])),
                      *[f"{f2(x['kept'][d])} ({f2(x['kept_min'][d])})" for d in specs]] for x in rows])


def _photo(r: Results, method: str, strength: str) -> dict:
    return _one(r.json(SRC)["photos"], "photo rows", method=method, strength=strength)


@block("countermeasures-reproduced", SRC, rows="`reproduced`: the seed-0 no-countermeasure cell re-attacked with this "
       "machine's clusters and crafts, beside the stored rows' peaks")
def _countermeasures_reproduced(r: Results) -> str:
    """Which stored rows this machine's protected training sets reproduce: peak now against every stored peak of
    the same cell (under the construction's own name and any set-apart name)."""
    rows = r.json(SRC).get("reproduced", [])
    return md_table(["view", "construction", "peak now (seed 0, no countermeasure)", "stored peaks of that cell"],
                    [[_view_name(_summary(r), x["data"], x["view"]), f"`{x['noise']}`", f3(x["peak_now"]),
                      "; ".join(f"`{k}` {f3(v)}" for k, v in x["stored_peaks"].items())] for x in rows])


@block("countermeasures-cost", "protect_cost.json", rows="`rows`: wall seconds per stage from an empty cache, "
       "with the machine's load average before and after and the date each row was measured")
def _countermeasures_cost(r: Results) -> str:
    """What protecting costs with each candidate (benchmarks/protect_cost.py): seconds of features, K-means and
    crafting per data size, and the load average the run saw (a busy machine inflates them)."""
    rows = r.json("protect_cost.json")["rows"]
    return md_table(["method", "images", "threads", "features s", "K-means s", "crafting s",
                     "load average (before / after)", "measured"],
                    [[f"`{x['method']}`" + (f" {x['options']}" if x["options"] else ""), f"{x['n']:,}", str(x["threads"]),
                      f"{x['features_s']:.0f}", f"{x['kmeans_s']:.0f}", f"{max(x['craft_s'], 0.0):.0f}",
                      f"{x['load_before']:.1f} / {x['load_after']:.1f}",
                      x.get("measured", {}).get("date", "—")[:10]] for x in rows])


def _cost_row(r: Results, method: str, n: int) -> dict:
    """The protect_cost.json row of ``method`` on ``n`` images at 2 threads and default options."""
    return _one(r.json("protect_cost.json")["rows"], "cost rows", method=method, n=n, threads=2, options={})


def _register() -> None:
    """Inline values the README and docs quote: ``cm.<data>.<view>.<noise>.<defense>.peak`` (seed 0),
    ``cmr.<data>.<view>.<noise>.<defense>`` (removed, worst over the stored seeds; ``worst``: over none / jpeg:10 /
    grayscale), ``cmn.<data>.<view>.<noise>.<defense>`` (how many attacker seeds that worst is over),
    ``cms.<data>.<noise>.<defense>`` (the share of δ that countermeasure keeps, no training), ``cmb.*`` (the
    ``bands`` rows; ``.vs_image``: δ's energy in a band over the images' own there, ``cmb.<data>.images.<band>.share``:
    the images' own share), ``cmt.*`` (how alike the tiles are) and ``cmv.<noise>.<defense|worst>[.view|.seeds]``
    (the smallest worst-of-seeds ``removed`` over the issue's three views, the view, the fewest seeds behind it)."""
    stored = Results().root / "benchmarks" / "results" / SRC
    data = Results().json(SRC) if stored.is_file() else {}
    for w in data.get("summary", {}).get("worst", []):
        key = (w["data"], w["view"], w["noise"])
        value(f"cmr.{'.'.join(key)}.{w['defense']}", SRC)(lambda r, key=key, d=w["defense"]: f2(_worst(r, *key, d)))
        value(f"cmr.{'.'.join(key)}.worst", SRC)(lambda r, key=key: f2(_worst(r, *key, None)))
        value(f"cmn.{'.'.join(key)}.{w['defense']}", SRC)(lambda r, key=key, d=w["defense"]: str(_seeds(r, *key, d)))
    for noise in HEADLINE:
        for d in (*DEFENSES[:4], None):
            tag = d or "worst"
            value(f"cmv.{noise}.{tag}", SRC)(lambda r, n=noise, d=d: f2(_over_views(r, n, d)[0]))
            value(f"cmv.{noise}.{tag}.view", SRC)(lambda r, n=noise, d=d: _view_name(_summary(r), *_over_views(r, n, d)[1]))
            value(f"cmv.{noise}.{tag}.seeds", SRC)(lambda r, n=noise, d=d: str(_over_views(r, n, d)[2]))
    for x in data.get("runs", []):
        if x["seed"] != 0:
            continue
        name = f"cm.{x['data']}.{x['view']}.{x['noise']}.{x['defense']}.peak"
        key = (x["data"], x["view"], x["noise"], x["defense"])
        value(name, SRC)(lambda r, key=key: f3(_run(r, *key)["peak"]))
    for x in data.get("bands", []):
        key = (x["data"], x["noise"])
        for b in x["share"]:
            value(f"cmb.{x['data']}.{x['noise']}.{BAND_TAGS[b]}.share", SRC)(
                lambda r, key=key, b=b: f2(_band(r, *key)["share"][b]))
            for spec in ("jpeg:10", "grayscale"):
                value(f"cmb.{x['data']}.{x['noise']}.{BAND_TAGS[b]}.{spec}", SRC)(
                    lambda r, key=key, b=b, spec=spec: f2(_band(r, *key)["kept"][spec][b]))
        for b in x.get("vs_image", {}):
            value(f"cmb.{x['data']}.{x['noise']}.{BAND_TAGS[b]}.vs_image", SRC)(
                lambda r, key=key, b=b: f2(_band(r, *key)["vs_image"][b]))
            value(f"cmb.{x['data']}.images.{BAND_TAGS[b]}.share", SRC)(
                lambda r, key=key, b=b: f2(_band(r, *key)["image_share"][b]))
        if x.get("tile_similarity"):
            for stat in ("max", "mean"):
                value(f"cmt.{x['data']}.{x['noise']}.{stat}", SRC)(
                    lambda r, key=key, stat=stat: f2(_band(r, *key)["tile_similarity"][stat]))
    for n in CANDIDATES:
        value(f"cmu.{n}", SRC)(lambda r, n=n: f2(_worst_of(_worst_cell(r, data, view, n, d) for data, view in HEADLINE_VIEWS
                                                          for d in FULL_SIZE_JPEG)))
        value(f"cmd.{n}", SRC)(lambda r, n=n: f2(default_rule(r)[n]["value"]))
        value(f"cmd.{n}.seeds", SRC)(lambda r, n=n: str(default_rule(r)[n]["seeds"]))
    cost = Results().root / "benchmarks" / "results" / "protect_cost.json"
    for x in (Results().json("protect_cost.json")["rows"] if cost.is_file() else []):
        if x["options"] or x["threads"] != 2:
            continue
        for field in ("features_s", "kmeans_s", "craft_s"):
            value(f"cost.{x['method']}.{x['n']}.{field}", "protect_cost.json")(
                lambda r, m=x["method"], n=x["n"], field=field: f"{max(_cost_row(r, m, n)[field], 0.0):,.0f}")
    for x in data.get("crafts", []):
        for field in ("seconds", "rounds_run"):
            value(f"cmc.{x['data']}.{x['noise']}.{field}", SRC)(
                lambda r, key=(x["data"], x["noise"]), field=field: f"{_one(r.json(SRC)['crafts'], 'craft rows', data=key[0], noise=key[1])[field]:,.0f}")
    for x in data.get("photos", []):
        for spec in x["kept"]:
            value(f"cmp.{x['method']}.{x['strength']}.{spec}", SRC)(
                lambda r, m=x["method"], st=x["strength"], spec=spec: f2(_photo(r, m, st)["kept"][spec]))
    for x in data.get("survival", []):
        key = (x["data"], x["noise"])
        for spec in (k for k in x if k not in ("data", "noise")):
            value(f"cms.{x['data']}.{x['noise']}.{spec}", SRC)(
                lambda r, key=key, spec=spec: f2(_survival(r, *key)[spec]))

_register()
