"""Property tests (hypothesis) for the invariants every input must keep (issue 7):

* the ε bound holds after quantisation (exactly where ε·255 is whole), for any image, any ε in (0, 64/255]
  and any δ within ±ε, at the crafting size or resized to another (``apply``, and the strip-wise
  ``apply_native`` of folders);
* assignment totality: every image gets exactly one group, in range, for every grouping method;
* ``apply`` / ``protect_bundle`` never change their inputs, and the test split never at all.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ucs_lite.data import Bundle, ImageSet
from ucs_lite.noise import Perturbation, apply, craft
from ucs_lite.protect import apply_native, protect_bundle
from ucs_lite.surrogates import create_surrogate

PROPS = settings(max_examples=25, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny():
    return create_surrogate("tiny", device="cpu")


def linf_bound(eps255: float) -> int:
    """The largest |Δ| (0–255 units) rounding to uint8 can leave for a δ within ±ε: ε·255 itself where that
    is a whole number (x + ε·255 is an integer already), else the next integer above it."""
    return int(round(eps255)) if abs(eps255 - round(eps255)) < 1e-6 else int(np.ceil(eps255))


def images(n, h, w):
    return arrays(np.uint8, (n, h, w, 3), elements=st.integers(0, 255))


eps255s = st.one_of(st.just(64.0), st.just(1.0), st.integers(1, 64).map(float),  # ε in 0–255 units: whole ...
                    st.floats(min_value=1e-3, max_value=64.0))  # ... and any


@st.composite
def images_and_noise(draw):
    n, h, w = draw(st.integers(1, 4)), draw(st.integers(1, 12)), draw(st.integers(1, 12))
    x = draw(images(n, h, w))
    eps = draw(eps255s) / 255
    g = draw(st.integers(1, 3))
    dh, dw = draw(st.sampled_from([(h, w), (1, 1), (8, 8), (5, 16)]))
    unit = draw(arrays(np.float32, (g, 3, dh, dw), elements=st.one_of(
        st.sampled_from([-1.0, 1.0, 0.0]), st.floats(-1, 1, width=32))))  # the extremes ±ε, and between
    delta = np.clip(unit * np.float32(eps), -np.float32(eps), np.float32(eps))
    assignment = draw(arrays(np.int64, (n,), elements=st.integers(0, g - 1)))
    return x, Perturbation(delta, assignment, "property", eps, 0)


@PROPS
@given(case=images_and_noise())
def test_eps_bound_after_quantisation(case):
    x, pert = case
    x_before = x.copy()
    out = apply(x, pert)
    assert out.dtype == np.uint8 and out.shape == x.shape
    assert np.abs(out.astype(int) - x).max() <= linf_bound(pert.eps * 255)
    assert np.array_equal(x, x_before)  # the input is never written to
    for i in range(len(x)):  # the folder path: δ resized to the native size in strips of rows
        native = apply_native(x[i], pert.delta[pert.assignment[i]], rows=3)
        assert np.abs(native.astype(int) - x[i]).max() <= linf_bound(pert.eps * 255)
        assert np.abs(native.astype(int) - out[i]).max() <= 1  # same result as resizing at once, up to rounding


@PROPS
@given(data=st.data(), n=st.integers(1, 10), p=st.integers(1, 4), size=st.integers(1, 12),
       seed=st.integers(0, 2 ** 16), method=st.sampled_from(["uc", "random-cluster", "random-class"]))
def test_assignment_is_total(tiny, data, n, p, size, seed, method):
    x = data.draw(images(n, size, size))
    y = data.draw(arrays(np.int64, (n,), elements=st.integers(0, 4)))
    opts = dict(steps=1, batch_per_cluster=2) if method == "uc" else {}
    try:
        pert = craft(method, ImageSet(x, {"fine": y}), eps=8 / 255, seed=seed, surrogate=tiny, p=p, device="cpu",
                     progress=False, **opts)
    except ValueError as e:  # the one refusal allowed: more clusters than (distinct) images, said plainly
        distinct = len(np.unique(x.reshape(n, -1), axis=0))
        assert method != "random-class" and (p > n or p > distinct or "distinct" in str(e)), str(e)
        assert "p ≤" in str(e) or "need 1 <= p <= N" in str(e), str(e)
        return
    a = pert.assignment
    assert a.shape == (n,) and a.dtype == np.int64
    assert a.min() >= 0 and a.max() < pert.groups
    if method != "random-class":
        assert pert.groups == p
    else:
        assert np.array_equal(a, y)
    assert apply(x, pert).shape == x.shape


@PROPS
@given(data=st.data(), n=st.integers(2, 8), m=st.integers(1, 5), size=st.integers(8, 12),
       method=st.sampled_from(["random-class", "random-cluster", "uc", "em-class"]), eps=eps255s)
def test_protect_bundle_never_changes_test_split_or_inputs(tiny, data, n, m, size, method, eps):
    xtr, xte = data.draw(images(n, size, size)), data.draw(images(m, size, size))
    ytr = data.draw(arrays(np.int64, (n,), elements=st.integers(0, 2)))
    yte = data.draw(arrays(np.int64, (m,), elements=st.integers(0, 2)))
    bundle = Bundle(ImageSet(xtr, {"fine": ytr}), ImageSet(xte, {"fine": yte}), extras={"note": np.array("kept")})
    copies = [a.copy() for a in (xtr, xte, ytr, yte)]
    distinct = len(np.unique(xtr.reshape(n, -1), axis=0))
    opts = {"uc": dict(steps=1, batch_per_cluster=2),
            "em-class": dict(rounds=1, train_steps=1, pgd_steps=1, batch_size=8)}.get(method, {})
    prot, pert = protect_bundle(bundle, method, eps=eps / 255, p=min(2, distinct), surrogate=tiny, device="cpu",
                                progress=False, **opts)
    assert prot.test.images.tobytes() == copies[1].tobytes() and np.array_equal(prot.test.labels["fine"], copies[3])
    for now, before in zip((bundle.train.images, bundle.test.images, bundle.train.labels["fine"],
                            bundle.test.labels["fine"]), copies):
        assert np.array_equal(now, before)  # the caller's bundle is untouched
    assert np.abs(prot.train.images.astype(int) - xtr).max() <= linf_bound(eps)
    assert str(prot.extras["note"]) == "kept" and len(prot.extras["cluster_train"]) == n
