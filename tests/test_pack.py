"""Course packs: ``ucs-lite cache export`` writes the cache to one file, ``cache import`` unpacks it into another
cache without overwriting, and every entry says where it came from (cache.provenance)."""
import json
import zipfile

import numpy as np
import pytest

from ucs_lite import cache
from ucs_lite.cli import main
from ucs_lite.noise import Perturbation
from ucs_lite.pack import MANIFEST_NAME, PackError, export_pack, import_pack

KEY = {"study": "test_pack", "train": "0123abcd", "seed": 0}


def _small_entry(cache_dir, calls: list) -> Perturbation:
    """A 2-group perturbation cached under KEY in ``cache_dir``; ``calls`` counts real computations."""
    def compute():
        calls.append(1)
        rng = np.random.default_rng(0)
        return Perturbation(np.sign(rng.standard_normal((2, 3, 4, 4))) * (8 / 255), np.arange(6) % 2,
                            "random-cluster", 8 / 255, 0)

    return cache.cached_perturbation(KEY, compute, cache_dir=cache_dir)


def test_export_then_import_into_an_empty_cache_is_a_hit_with_its_provenance(tmp_path, monkeypatch):
    teacher, student, calls = tmp_path / "teacher", tmp_path / "student", []
    made = _small_entry(teacher, calls)
    assert calls == [1]
    entry = next((teacher / "perturbations").glob("*.npz"))
    prov = cache.provenance(entry)
    assert set(prov) >= {"date", "ucs_lite", "torch", "device"} and "pack" not in prov
    pack = tmp_path / "course.zip"
    monkeypatch.setenv("UCS_LITE_CACHE", str(tmp_path / "empty"))
    assert main(["cache", "export", str(pack)]) == 2 and not pack.exists()  # an empty cache: nothing to export
    m = export_pack(pack, cache_dir=teacher)
    assert m["kinds"]["perturbations"] == 1 and m["ucs_lite"] and m["torch"] and m["device"]
    with zipfile.ZipFile(pack) as z:
        manifest = json.loads(z.read(MANIFEST_NAME))
        assert {f["name"].split("/")[0] for f in manifest["files"]} == {"perturbations"}
    with pytest.raises(PackError, match="exists"):
        export_pack(pack, cache_dir=teacher)

    report = import_pack(pack, cache_dir=student)
    assert len(report.added) == 1 and not report.already and "added 1 entries" in report.summary()
    got = _small_entry(student, calls)
    assert calls == [1], "the imported entry must be a cache hit"
    assert np.array_equal(got.delta, made.delta)
    prov = cache.provenance(next((student / "perturbations").glob("*.npz")))
    assert prov["pack"] == "course.zip" and prov["date"] and prov["torch"]

    again = import_pack(pack, cache_dir=student)
    assert not again.added and len(again.already) == 1, "a second import adds nothing"


def test_import_never_overwrites_a_different_entry(tmp_path):
    teacher, student = tmp_path / "teacher", tmp_path / "student"
    _small_entry(teacher, [])
    export_pack(tmp_path / "p.zip", cache_dir=teacher)
    import_pack(tmp_path / "p.zip", cache_dir=student)
    mine = next((student / "perturbations").glob("*.npz"))
    mine.write_bytes(b"the student's own bytes")
    report = import_pack(tmp_path / "p.zip", cache_dir=student)
    assert report.kept_different == [f"perturbations/{mine.name}"] and not report.added
    assert mine.read_bytes() == b"the student's own bytes"
    assert "kept 1 of yours" in report.summary()


def test_a_corrupt_or_foreign_file_is_refused_with_one_line(tmp_path, monkeypatch, capsys):
    teacher, student = tmp_path / "teacher", tmp_path / "student"
    _small_entry(teacher, [])
    good = tmp_path / "good.zip"
    export_pack(good, cache_dir=teacher)
    # a damaged member: same manifest, other bytes
    damaged = tmp_path / "damaged.zip"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(damaged, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            dst.writestr(info.filename, data[:-1] + b"x" if info.filename.endswith(".npz") else data)
    with pytest.raises(PackError, match="damaged"):
        import_pack(damaged, cache_dir=student)
    assert not student.exists() or not any(student.rglob("*.npz")), "nothing written from a damaged pack"
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(good.read_bytes()[:200])
    foreign = tmp_path / "foreign.zip"
    with zipfile.ZipFile(foreign, "w") as z:
        z.writestr("hello.txt", "not a pack")
    escaping = tmp_path / "escaping.zip"
    with zipfile.ZipFile(escaping, "w") as z:
        z.writestr(MANIFEST_NAME, json.dumps({"format": "ucs_lite-course-pack", "version": 1,
                                              "files": [{"name": "attack/../../evil", "sha256": ""}]}))
    for bad, why in ((truncated, "not a zip"), (foreign, "not a ucs_lite course pack"), (escaping, "outside the cache"),
                     (tmp_path / "missing.zip", "no such file")):
        with pytest.raises(PackError, match=why):
            import_pack(bad, cache_dir=student)
    monkeypatch.setenv("UCS_LITE_CACHE", str(student))
    capsys.readouterr()
    assert main(["cache", "import", str(foreign)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ucs-lite: error:") and "not a ucs_lite course pack" in err and "\n" not in err


def test_cli_export_and_import_round_trip(tmp_path, monkeypatch, capsys):
    teacher, student = tmp_path / "teacher", tmp_path / "student"
    _small_entry(teacher, [])
    monkeypatch.setenv("UCS_LITE_CACHE", str(teacher))
    assert main(["cache", "export", str(tmp_path / "c.zip")]) == 0
    assert "wrote" in capsys.readouterr().out
    assert main(["cache", "export", str(tmp_path / "c.zip")]) == 2  # nothing overwritten silently
    monkeypatch.setenv("UCS_LITE_CACHE", str(student))
    assert main(["cache", "import", str(tmp_path / "c.zip")]) == 0
    assert "added 1 entries" in capsys.readouterr().out


def test_setup_imports_the_pack_of_the_environment_once(tmp_path, monkeypatch, capsys):
    from ucs_lite import notebooks as nb

    teacher, student = tmp_path / "teacher", tmp_path / "student"
    _small_entry(teacher, [])
    export_pack(tmp_path / "class.zip", cache_dir=teacher)
    monkeypatch.setenv("UCS_LITE_CACHE", str(student))
    monkeypatch.setattr(nb.STATE, "packs_imported", [])
    assert nb.import_pack_once(str(tmp_path / "class.zip")) == str(tmp_path / "class.zip")
    assert "added 1 entries" in capsys.readouterr().out
    assert nb.import_pack_once(str(tmp_path / "class.zip")) == str(tmp_path / "class.zip")
    assert capsys.readouterr().out == "", "a second import in the same runtime does nothing"
    assert nb.import_pack_once(str(tmp_path / "nothing.zip")) is None
    assert "not imported" in capsys.readouterr().out


def test_a_cache_hit_in_a_notebook_says_where_it_came_from(tmp_path, capsys):
    from ucs_lite.notebooks.provenance_line import print_hit

    cache.add_hit_hook(print_hit)
    try:
        teacher, student = tmp_path / "teacher", tmp_path / "student"
        _small_entry(teacher, [])
        export_pack(tmp_path / "class.zip", cache_dir=teacher)
        import_pack(tmp_path / "class.zip", cache_dir=student)
        capsys.readouterr()
        _small_entry(student, [])
        line = capsys.readouterr().out.strip()
        assert line.startswith("loaded from pack class.zip: made ") and " with ucs_lite " in line and \
            ", torch " in line and " on " in line
    finally:
        cache._HIT_HOOKS.remove(print_hit)
