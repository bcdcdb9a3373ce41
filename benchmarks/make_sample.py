"""Rebuild ucs_lite/assets/cifar10_sample.npz (``ucs_lite.data.SAMPLE_PATH``) from the shared CIFAR-10 bundle
(see ucs_lite/assets/README.md)."""
import numpy as np

from ucs_lite.data import SAMPLE_PATH, find_shared_bundle, load_npz

#: 400 train / 100 test images per class: large enough that the demo's and the notebooks' contrasts stand
#: clear of their seed spread (docs/results.md, "Demo and notebook sizes"), small enough to ship (about 14 MB).
N_TRAIN, N_TEST = 4000, 1000


def main() -> None:
    src = find_shared_bundle()
    if src is None:
        raise SystemExit("the shared bundle ../shared/data/cifar10_subset.npz is not here")
    b = load_npz(src)
    tr, te = b.train.balanced_indices(N_TRAIN, seed=0), b.test.balanced_indices(N_TEST, seed=0)
    with np.load(src) as d:
        out = {"x_train": d["x_train"][tr], "y_train": d["y_train"][tr], "y_train_coarse": d["y_train_coarse"][tr],
               "x_test": d["x_test"][te], "y_test": d["y_test"][te], "y_test_coarse": d["y_test_coarse"][te],
               "file_train": d["file_train"][tr], "file_test": d["file_test"][te], "class_names": d["class_names"],
               "coarse_names": d["coarse_names"], "fine_to_coarse": d["fine_to_coarse"]}
    np.savez_compressed(SAMPLE_PATH, **out)


if __name__ == "__main__":
    main()
