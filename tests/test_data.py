import numpy as np
import pytest
from PIL import Image

from ucs_lite.data import (DataError, ImageSet, load, load_image_folder, load_npz, read_image,
                           regroup_mapping, save_npz)


def test_sample_bundle_has_views_and_names(sample):
    tr, te = sample.train, sample.test
    assert tr.images.shape == (4000, 32, 32, 3) and tr.images.dtype == np.uint8
    assert te.images.shape == (1000, 32, 32, 3)
    assert set(tr.views) == {"fine", "coarse"}
    assert np.bincount(tr.labels["fine"]).tolist() == [400] * 10
    y, names = tr.view("coarse")
    assert names == ["animal", "vehicle"] and set(np.unique(y)) == {0, 1}
    assert tr.view("fine")[1][0] == "airplane"


def test_shared_bundle_keys(shared_path):
    b = load_npz(shared_path)
    assert len(b.train) == 10000 and len(b.test) == 10000
    assert b.train.n_classes("fine") == 10 and b.train.n_classes("coarse") == 2
    fine, coarse = b.train.labels["fine"], b.train.labels["coarse"]
    assert np.array_equal(np.array([1, 1, 0, 0, 0, 0, 0, 0, 1, 1])[fine], coarse)


def test_npz_roundtrip_keeps_extras(tmp_path, sample):
    p = tmp_path / "b.npz"
    save_npz(sample, p)
    b = load_npz(p)
    assert np.array_equal(b.train.images, sample.train.images)
    assert np.array_equal(b.test.labels["coarse"], sample.test.labels["coarse"])
    assert "file_train" in b.extras and b.train.class_names["coarse"] == ["animal", "vehicle"]


def test_npz_errors_name_the_problem(tmp_path):
    p = tmp_path / "bad.npz"
    np.savez(p, x_train=np.zeros((2, 4, 4, 3), np.uint8), y_train=np.zeros(2, np.int64))
    with pytest.raises(DataError, match="missing keys"):
        load_npz(p)
    np.savez(p, x_train=np.zeros((2, 4, 4, 3), np.uint8), y_train=np.zeros(3, np.int64),
             x_test=np.zeros((1, 4, 4, 3), np.uint8), y_test=np.zeros(1, np.int64))
    with pytest.raises(DataError, match="shape"):
        load_npz(p)
    np.savez(p, x_train=np.zeros((2, 4, 4, 3), np.float32), y_train=np.zeros(2, np.int64),
             x_test=np.zeros((1, 4, 4, 3), np.uint8), y_test=np.zeros(1, np.int64))
    with pytest.raises(DataError, match="uint8"):
        load_npz(p)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="junk.npz"):
        load_npz(tmp_path / "junk.npz")


def test_regroup_is_a_deterministic_partition():
    a, b = regroup_mapping(10, 3, seed=1), regroup_mapping(10, 3, seed=1)
    assert np.array_equal(a, b)
    assert sorted(np.bincount(a).tolist()) == [3, 3, 4]
    assert not np.array_equal(a, regroup_mapping(10, 3, seed=2))
    with pytest.raises(ValueError):
        regroup_mapping(10, 11, 0)


def test_regroup_view(sample):
    y, names = sample.train.view("regroup:2:0")
    assert len(names) == 2 and set(np.unique(y)) == {0, 1}
    fine = sample.train.labels["fine"]
    for c in range(10):  # each fine class lands in exactly one group
        assert len(np.unique(y[fine == c])) == 1
    with pytest.raises(KeyError):
        sample.train.view("nonsense")


def test_balanced_subset_deterministic(sample):
    a = sample.train.balanced_indices(200, seed=3)
    assert np.array_equal(a, sample.train.balanced_indices(200, seed=3))
    assert not np.array_equal(a, sample.train.balanced_indices(200, seed=4))
    assert np.bincount(sample.train.labels["fine"][a]).tolist() == [20] * 10


def test_imageset_rejects_bad_arrays():
    with pytest.raises(DataError):
        ImageSet(np.zeros((2, 4, 4), np.uint8))
    with pytest.raises(DataError):
        ImageSet(np.zeros((2, 4, 4, 3), np.float32))
    with pytest.raises(DataError):
        ImageSet(np.zeros((2, 4, 4, 3), np.uint8), {"fine": np.zeros(3, np.int64)})


def _save(path, mode, size, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(0).integers(0, 255, (size[1], size[0], 4), dtype=np.uint8)
    if mode == "RGB":
        im = Image.fromarray(arr[..., :3])
    elif mode == "RGBA":
        im = Image.fromarray(arr, "RGBA")
    elif mode == "L":
        im = Image.fromarray(arr[..., 0])
    elif mode == "P":
        im = Image.fromarray(arr[..., :3]).convert("P")
    elif mode == "I;16":
        im = Image.fromarray(arr[..., 0].astype(np.uint16) * 257)  # 16-bit greyscale
    im.save(path, **kw)


def test_image_folder_mixed_sizes_and_modes(tmp_path):
    _save(tmp_path / "cats" / "a.png", "RGB", (40, 30))
    _save(tmp_path / "cats" / "b.png", "RGBA", (17, 64))
    _save(tmp_path / "dogs" / "c.jpg", "L", (100, 80), quality=90)
    _save(tmp_path / "dogs" / "d.png", "P", (8, 8))
    _save(tmp_path / "dogs" / "e.png", "I;16", (33, 21))
    b = load_image_folder(tmp_path, size=32)
    assert b.train.images.shape == (5, 32, 32, 3)
    assert b.train.class_names["fine"] == ["cats", "dogs"]
    assert b.train.labels["fine"].tolist() == [0, 0, 1, 1, 1]
    assert read_image(tmp_path / "dogs" / "e.png").dtype == np.uint8
    assert read_image(tmp_path / "cats" / "b.png").shape == (64, 17, 3)


def test_flat_folder_and_corrupt_file(tmp_path):
    _save(tmp_path / "x.png", "RGB", (20, 20))
    b = load(tmp_path)
    assert b.train.class_names["fine"] == ["all"] and len(b.train) == 1
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(DataError, match="broken.png"):
        read_image(tmp_path / "broken.png")


def test_load_spec_errors(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load(tmp_path / "nothing.npz")
    assert (len(load("sample").train), len(load("sample").test)) == (4000, 1000)
