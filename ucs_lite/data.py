"""Datasets: images as uint8 N×H×W×3 with several named label views.

Sources
-------
* ``.npz`` bundles (the format of ``../shared/data``): ``x_train``, ``y_train``, ``x_test``, ``y_test``
  plus optional ``y_train_<view>`` / ``y_test_<view>`` / ``<view>_names`` and ``class_names``.
* torchvision CIFAR-10 / CIFAR-100 (downloaded where a network exists; CIFAR-100 carries its 20
  official superclasses as the ``coarse`` view; CIFAR-10 gets animal / vehicle).
* image folders (class sub-folders, or flat): any size, converted to RGB.
* the small embedded sample in ``data/`` (offline demo on any machine).

Label views
-----------
``fine`` (``y_*``), any stored view such as ``coarse`` (``y_*_coarse``), and ``regroup:n:seed``
(the fine classes randomly partitioned into ``n`` groups by ``seed``).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import DataError, SkippedInput, UcsWarning
from .files import atomic_write_bytes, cache_dir
from .errors import InputError

__all__ = [
    "ImageSet", "Bundle", "load_npz", "save_npz", "load_cifar", "load_sample", "load_image_folder",
    "read_image", "list_images", "load", "find_shared_bundle", "regroup_mapping", "SAMPLE_PATH",
    "IMAGE_SUFFIXES", "DataError", "UcsWarning", "SkippedInput", "atomic_write_bytes",
]

#: The embedded sample ships inside the package (``ucs_lite/assets/``), so a wheel install carries it.
SAMPLE_PATH = Path(__file__).resolve().parent / "assets" / "cifar10_sample.npz"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")
CIFAR10_FINE_TO_COARSE = np.array([1, 1, 0, 0, 0, 0, 0, 0, 1, 1], dtype=np.int64)
CIFAR10_COARSE_NAMES = ["animal", "vehicle"]


def regroup_mapping(n_classes: int, n_groups: int, seed: int) -> np.ndarray:
    """Random partition of ``n_classes`` classes into ``n_groups`` non-empty groups.

    Returns an int64 array ``m`` of length ``n_classes`` with ``m[c]`` the group of class ``c``;
    every group gets ``n_classes // n_groups`` or one more classes. Deterministic in ``seed``.
    """
    if not 2 <= n_groups <= n_classes:
        raise InputError(f"regroup needs 2 <= n ({n_groups}) <= number of classes ({n_classes})")
    rng = np.random.default_rng(seed)
    order = rng.permutation(n_classes)
    mapping = np.empty(n_classes, dtype=np.int64)
    mapping[order] = np.arange(n_classes) % n_groups
    return mapping


@dataclass
class ImageSet:
    """One split of a dataset.

    Attributes:
        images: uint8 array N×H×W×3 (RGB, 0–255).
        labels: view name -> int64 array (N,). ``fine`` is the dataset's own label.
        class_names: view name -> list of class names (index = label).
    """

    images: np.ndarray
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    class_names: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        x = self.images
        if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 4 or x.shape[-1] != 3:
            got = f"{getattr(x, 'dtype', type(x).__name__)} {getattr(x, 'shape', '')}"
            raise DataError(f"images must be uint8 N×H×W×3 (RGB), got {got}")
        for name, y in self.labels.items():
            y = np.asarray(y)
            if y.shape != (len(x),):
                raise DataError(f"label view {name!r} has shape {y.shape}, expected ({len(x)},)")
            if not np.issubdtype(y.dtype, np.integer):
                raise DataError(f"label view {name!r} must be integers, got {y.dtype}")
            self.labels[name] = y.astype(np.int64)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def views(self) -> list[str]:
        """Names of the stored label views (``regroup:n:seed`` views are derived on demand)."""
        return list(self.labels)

    def view(self, name: str) -> tuple[np.ndarray, list[str]]:
        """Labels (N,) int64 and class names for a view: a stored one or ``regroup:n:seed``."""
        if name in self.labels:
            y = self.labels[name]
            names = self.class_names.get(name) or [str(i) for i in range(int(y.max()) + 1 if len(y) else 0)]
            return y, list(names)
        if name.startswith("regroup:"):
            try:
                _, n, seed = name.split(":")
                n_groups, seed_i = int(n), int(seed)
            except ValueError:
                raise InputError(f"bad view {name!r}: write regroup:<n groups>:<seed>, e.g. regroup:2:0") from None
            y, names = self.view("fine")
            mapping = regroup_mapping(len(names), n_groups, seed_i)
            group_names = ["+".join(names[c] for c in np.flatnonzero(mapping == g)) for g in range(n_groups)]
            return mapping[y], group_names
        raise KeyError(f"unknown label view {name!r}; this set has {self.views} and regroup:n:seed")

    def n_classes(self, name: str) -> int:
        """Number of classes in a view."""
        return len(self.view(name)[1])

    def subset(self, idx: Sequence[int] | np.ndarray) -> "ImageSet":
        """The images at ``idx`` (copies), with all label views."""
        idx = np.asarray(idx)
        return ImageSet(self.images[idx].copy(), {k: v[idx].copy() for k, v in self.labels.items()},
                        {k: list(v) for k, v in self.class_names.items()})

    def balanced_indices(self, n: int, view: str = "fine", seed: int = 0) -> np.ndarray:
        """Indices of a class-balanced subset of ``n`` images (sorted), deterministic in ``seed``.

        Classes get ``n // k`` images each (the first ``n % k`` classes one more); a class with
        too few images gives all it has.
        """
        if n >= len(self):
            return np.arange(len(self))
        y, names = self.view(view)
        k = len(names)
        rng = np.random.default_rng(seed)
        chosen = []
        for c in range(k):
            members = np.flatnonzero(y == c)
            want = n // k + (1 if c < n % k else 0)
            chosen.append(rng.choice(members, size=min(want, len(members)), replace=False))
        return np.sort(np.concatenate(chosen))

    def balanced_subset(self, n: int, view: str = "fine", seed: int = 0) -> "ImageSet":
        """Class-balanced subset of ``n`` images; see :meth:`balanced_indices`."""
        return self.subset(self.balanced_indices(n, view, seed))

    def to_float(self) -> "torch.Tensor":  # noqa: F821
        """Images as a float32 torch tensor N×3×H×W in [0, 1]."""
        import torch

        return torch.from_numpy(self.images).permute(0, 3, 1, 2).float().div_(255.0)

    def fingerprint(self) -> str:
        """16-hex sha256 of the pixels (bytes and shape) AND every stored label view with its class names:
        two sets with the same pixels but other labels (a relabelled dataset) get different fingerprints."""
        h = hashlib.sha256()
        h.update(str(self.images.shape).encode())
        h.update(np.ascontiguousarray(self.images).tobytes())
        for name in sorted(self.labels):
            h.update(f"|view {name} {self.class_names.get(name, [])!r}|".encode())
            h.update(np.ascontiguousarray(self.labels[name], dtype=np.int64).tobytes())
        return h.hexdigest()[:16]


@dataclass
class Bundle:
    """A train/test pair plus whatever else the source carried (kept when saving)."""

    train: ImageSet
    test: ImageSet
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    source: str = ""

    def meta(self) -> dict:
        """The JSON ``meta`` of a protected bundle ({} when absent)."""
        if "meta" in self.extras:
            return json.loads(str(self.extras["meta"]))
        return {}


_REQUIRED = ("x_train", "y_train", "x_test", "y_test")


def load_npz(path: str | os.PathLike) -> Bundle:
    """Read an ``.npz`` bundle (no pickle). Raises :class:`DataError` naming the file and the problem."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file (expected an .npz bundle with keys {', '.join(_REQUIRED)})")
    try:
        with np.load(path, allow_pickle=False) as z:
            d = {k: z[k] for k in z.files}
    except Exception as e:  # zipfile / format errors
        raise DataError(f"{path}: not a readable .npz file ({type(e).__name__}: {e}); write bundles with "
                        "numpy.savez or ucs_lite.data.save_npz (plain arrays, no pickled objects)") from None
    missing = [k for k in _REQUIRED if k not in d]
    if missing:
        raise DataError(f"{path}: missing keys {missing}; a bundle needs {list(_REQUIRED)} "
                        "(uint8 N×H×W×3 images, int64 labels)")
    splits = {}
    for split in ("train", "test"):
        x = d.pop(f"x_{split}")
        if x.dtype != np.uint8 or x.ndim != 4 or x.shape[-1] != 3:
            raise DataError(f"{path}: x_{split} must be uint8 N×H×W×3, got {x.dtype} {x.shape}; convert it "
                            "(e.g. (x * 255).round().astype('uint8') for float images in [0, 1])")
        if split == "train" and len(x) == 0:
            raise DataError(f"{path}: x_train holds no images; a bundle needs at least one training image")
        labels = {"fine": d.pop(f"y_{split}")}
        for k in [k for k in d if k.startswith(f"y_{split}_")]:
            labels[k[len(f"y_{split}_"):]] = d.pop(k)
        for name, y in labels.items():
            key = f"y_{split}" if name == "fine" else f"y_{split}_{name}"
            if y.shape != (len(x),):
                raise DataError(f"{path}: labels of view {name!r} in {split} ({key}) have shape {y.shape}, "
                                f"expected ({len(x)},) to match x_{split}")
            if not np.issubdtype(y.dtype, np.integer):
                raise DataError(f"{path}: {key} must hold integer class ids, got {y.dtype}; "
                                "store them with .astype('int64')")
            if len(y) and y.min() < 0:
                raise DataError(f"{path}: {key} has negative class ids (min {y.min()}); use 0..n-1")
        splits[split] = (x, labels)
    names = {}
    if "class_names" in d:
        names["fine"] = [str(s) for s in d["class_names"]]
    for k in [k for k in d if k.endswith("_names") and k != "class_names"]:
        names[k[: -len("_names")]] = [str(s) for s in d[k]]
    tr = ImageSet(splits["train"][0], splits["train"][1], {k: v for k, v in names.items() if k in splits["train"][1]})
    te = ImageSet(splits["test"][0], splits["test"][1], {k: v for k, v in names.items() if k in splits["test"][1]})
    return Bundle(tr, te, extras=d, source=str(path))


def save_npz(bundle: Bundle, path: str | os.PathLike) -> None:
    """Write a bundle as compressed ``.npz`` (atomically), keeping its extra keys."""
    out: dict[str, np.ndarray] = dict(bundle.extras)
    for split, s in (("train", bundle.train), ("test", bundle.test)):
        out[f"x_{split}"] = s.images
        for view, y in s.labels.items():
            out[f"y_{split}" if view == "fine" else f"y_{split}_{view}"] = y
    for view, names in {**bundle.test.class_names, **bundle.train.class_names}.items():
        out["class_names" if view == "fine" else f"{view}_names"] = np.array(names)
    buf = io.BytesIO()
    np.savez_compressed(buf, **out)
    atomic_write_bytes(path, buf.getvalue())


def load_sample() -> Bundle:
    """The embedded CIFAR-10 sample in ``ucs_lite/assets/`` (1,000 train / 500 test, fine + coarse views)."""
    if not SAMPLE_PATH.is_file():
        raise DataError(f"embedded sample missing at {SAMPLE_PATH}; reinstall ucs_lite (its wheel and sdist carry ucs_lite/assets/)")
    return load_npz(SAMPLE_PATH)


def find_shared_bundle() -> Path | None:
    """``../shared/data/cifar10_subset.npz`` next to the repository, or ``$UCS_LITE_DATA``, if present."""
    env = os.environ.get("UCS_LITE_DATA")
    candidates = [Path(env)] if env else []
    root = Path(__file__).resolve().parent.parent
    candidates += [root.parent / "shared" / "data" / "cifar10_subset.npz",
                   Path.cwd().parent / "shared" / "data" / "cifar10_subset.npz"]
    for c in candidates:
        if c.is_file():
            return c
    return None


def load_cifar(name: str = "cifar10", root: str | os.PathLike | None = None, download: bool = True) -> Bundle:
    """CIFAR-10 or CIFAR-100 through torchvision (downloads where a network exists) into ``root`` (default: the
    ``datasets`` folder of the one cache, :func:`ucs_lite.files.cache_dir`, so ``UCS_LITE_CACHE`` moves it too).

    CIFAR-10 gets a ``coarse`` view animal / vehicle; CIFAR-100 its 20 official superclasses.
    """
    import torchvision

    root = Path(root).expanduser() if root is not None else cache_dir() / "datasets"
    cls = {"cifar10": torchvision.datasets.CIFAR10, "cifar100": torchvision.datasets.CIFAR100}.get(name)
    if cls is None:
        raise InputError(f"unknown CIFAR {name!r}: use cifar10 or cifar100")
    try:
        sets = {s: cls(str(root), train=(s == "train"), download=download) for s in ("train", "test")}
    except Exception as e:
        raise DataError(f"could not get {name} under {root} ({e}). Offline? Use the embedded sample "
                        "(load_sample) or an .npz bundle instead.") from None
    splits = {}
    for s, ds in sets.items():
        x = np.asarray(ds.data, dtype=np.uint8)
        fine = np.asarray(ds.targets, dtype=np.int64)
        if name == "cifar10":
            labels = {"fine": fine, "coarse": CIFAR10_FINE_TO_COARSE[fine]}
            names = {"fine": list(ds.classes), "coarse": CIFAR10_COARSE_NAMES}
        else:
            base = Path(ds.root) / ds.base_folder
            with open(base / ("train" if s == "train" else "test"), "rb") as f:
                raw = pickle.load(f, encoding="latin1")  # the official CIFAR file format is a pickle
            with open(base / "meta", "rb") as f:
                meta = pickle.load(f, encoding="latin1")
            labels = {"fine": fine, "coarse": np.asarray(raw["coarse_labels"], dtype=np.int64)}
            names = {"fine": list(ds.classes), "coarse": list(meta["coarse_label_names"])}
        splits[s] = ImageSet(x, labels, names)
    return Bundle(splits["train"], splits["test"], source=f"torchvision:{name}")


def read_image(path: str | os.PathLike, max_pixels: int | None = 200_000_000,
               draft: int | None = None) -> np.ndarray:
    """One image file as uint8 H×W×3 RGB, EXIF rotation applied.

    Grayscale, palette, RGBA (composited on white) and 16-bit images are converted to 8-bit RGB.
    ``draft`` lets JPEGs decode at a reduced scale (still at least ``draft`` px a side): cheap reads
    of large photos when only a small version is needed. Raises :class:`DataError` naming the file
    and the fix when it is not a readable image.
    """
    from PIL import Image, ImageOps

    path = Path(path)
    try:
        with Image.open(path) as im:
            if max_pixels is not None and im.width * im.height > max_pixels:
                raise DataError(f"{path}: {im.width}×{im.height} is larger than {max_pixels} pixels; "
                                "downscale it first")
            if draft is not None and im.format == "JPEG":
                im.draft(im.mode, (int(draft), int(draft)))
            im.load()
            if im.getexif().get(0x0112, 1) != 1:  # EXIF orientation (a copy only where there is one)
                im = ImageOps.exif_transpose(im)
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                a = np.asarray(im, dtype=np.float64)
                top = 65535.0 if a.max() > 255 else 255.0
                im = Image.fromarray(np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                im = im.convert("RGBA")
                bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
                im = Image.alpha_composite(bg, im)
            arr = _pil_to_array(im if im.mode == "RGB" else im.convert("RGB"))
    except DataError:
        raise
    except Exception as e:
        raise DataError(f"{path}: {_image_error(e, path)}") from None
    return arr


def _pil_to_array(im, rows: int = 256) -> np.ndarray:
    """An RGB PIL image as a writable uint8 H×W×3 array; large images are copied in strips of rows,
    so the transient memory is the array plus a strip (not two more full copies)."""
    w, h = im.size
    if w * h <= 1 << 22:
        return np.array(im, dtype=np.uint8)
    out = np.empty((h, w, 3), np.uint8)
    for r0 in range(0, h, rows):
        out[r0:r0 + rows] = np.asarray(im.crop((0, r0, w, min(h, r0 + rows))), dtype=np.uint8)
    return out


def _image_error(e: Exception, path: Path) -> str:
    """A one-line reason and fix for an image that could not be read."""
    name = type(e).__name__
    if isinstance(e, PermissionError):
        return "cannot be read (permission denied); check its permissions (chmod u+r) or move it out of the folder"
    if name == "DecompressionBombError":
        return "too many pixels to decode safely; downscale it first"
    if isinstance(e, OSError) and e.strerror:
        return f"cannot be read ({e.strerror}); check the file or move it out of the folder"
    reason = " ".join(str(e).replace(repr(str(path)), "").replace(str(path), "").split()) or name
    return (f"not a readable image ({name}: {reason}); it may be corrupt or truncated: "
            "re-export it as PNG or JPEG, or move it out of the folder")


def list_images(folder: str | os.PathLike, ignored: list[tuple[Path, str]] | None = None) -> list[Path]:
    """Image files under ``folder`` (recursive, sorted, by suffix; hidden files skipped).

    When ``ignored`` is a list, every other visible entry that is not used gets appended to it as
    ``(path, reason)``: files of other types, and image names that are not regular files (broken links).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder (or not readable); give a folder of images")
    try:
        entries = sorted(folder.rglob("*"))
    except OSError as e:
        raise DataError(f"{folder}: cannot list the folder ({e.strerror or e}); check its permissions") from None
    out = []
    for p in entries:
        if any(part.startswith(".") for part in p.relative_to(folder).parts):
            continue
        is_image_name = p.suffix.lower() in IMAGE_SUFFIXES
        if p.is_file() and is_image_name:
            out.append(p)
        elif ignored is not None and not p.is_dir():
            if is_image_name:
                ignored.append((p, "not a regular file (a broken link?); point it at an image or remove it"))
            else:
                ignored.append((p, f"not an image type ucs-lite reads ({', '.join(IMAGE_SUFFIXES)}); "
                                   "convert it to PNG or JPEG to protect it"))
    return out


def resize_uint8(img: np.ndarray, size: int) -> np.ndarray:
    """Resize an H×W×3 uint8 image to size×size (bicubic via PIL; aspect ratio not kept)."""
    from PIL import Image

    return np.asarray(Image.fromarray(img).resize((size, size), Image.BICUBIC), dtype=np.uint8)


def load_image_folder(folder: str | os.PathLike, size: int = 32, test_fraction: float = 0.0,
                      seed: int = 0) -> Bundle:
    """An image folder as a bundle resized to ``size``×``size``.

    Class sub-folders become the ``fine`` view; a flat folder gets one class ``all``. Unreadable files
    and files of other types are skipped with a :class:`SkippedInput` warning naming each (raises
    :class:`DataError` when no image is left). Images are read one at a time and resized at once, so
    memory holds one full-size image. ``round(test_fraction · N)`` of the images (at least one when
    ``test_fraction`` > 0; chosen at random by ``seed``) form the test split, the rest the training split;
    with the default 0 the test split is empty (what ``protect`` needs; ``evaluate`` refuses it).
    """
    if not 0 <= test_fraction < 1:
        raise DataError(f"test_fraction must be in [0, 1), got {test_fraction}; e.g. 0.2 holds out 20% of the images")
    folder = Path(folder)
    ignored: list[tuple[Path, str]] = []
    found = list_images(folder, ignored)
    for p, why in ignored:
        warnings.warn(f"skipped {p}: {why}", SkippedInput, stacklevel=2)
    small, files = [], []
    for p in found:
        try:
            small.append(resize_uint8(read_image(p, draft=size), size))
            files.append(p)
        except DataError as e:
            warnings.warn(f"skipped {e}", SkippedInput, stacklevel=2)
    if not files:
        what = f"none of the {len(found)} image files could be read" if found else "no images found"
        raise DataError(f"{folder}: {what} (looked for {', '.join(IMAGE_SUFFIXES)}); "
                        "give a folder that holds images")
    classes = sorted({p.relative_to(folder).parts[0] for p in files if len(p.relative_to(folder).parts) > 1})
    if classes and all(len(p.relative_to(folder).parts) > 1 for p in files):
        y = np.array([classes.index(p.relative_to(folder).parts[0]) for p in files], dtype=np.int64)
    else:
        classes, y = ["all"], np.zeros(len(files), dtype=np.int64)
    x = np.stack(small)
    n_test = max(1, int(round(test_fraction * len(files)))) if test_fraction > 0 else 0
    if n_test >= len(files):
        raise DataError(f"{folder}: {len(files)} image(s) cannot be split into training and test images "
                        f"(test_fraction {test_fraction}); add images or give the test images separately")
    is_test = np.zeros(len(files), dtype=bool)
    is_test[np.random.default_rng(seed).permutation(len(files))[:n_test]] = True
    mk = lambda m: ImageSet(x[m], {"fine": y[m]}, {"fine": classes})  # noqa: E731
    return Bundle(mk(~is_test), mk(is_test), source=str(folder))


def load(spec: str | os.PathLike, test_fraction: float | None = None, seed: int = 0) -> Bundle:
    """One entry point: ``sample``, ``shared`` (../shared/data CIFAR-10), ``cifar10``, ``cifar100``,
    a ``.npz`` path or an image folder. ``test_fraction`` (image folders only; default 0: no test split)
    holds out that share of a folder's images, chosen by ``seed``, as its test split."""
    s = str(spec)
    if test_fraction and not Path(s).is_dir():
        raise DataError(f"{s}: a test fraction applies to image folders only; this source has its own test split")
    if s == "sample":
        return load_sample()
    if s == "shared":
        p = find_shared_bundle()
        if p is None:
            raise DataError("the shared CIFAR-10 bundle (../shared/data/cifar10_subset.npz) is not here; "
                            "use 'sample', 'cifar10' (downloads) or a path, or set UCS_LITE_DATA")
        return load_npz(p)
    if s in ("cifar10", "cifar100"):
        return load_cifar(s)
    if Path(s).is_dir():
        return load_image_folder(s, test_fraction=test_fraction or 0.0, seed=seed)
    if not Path(s).exists():
        raise DataError(f"{s}: no such file or folder; give an .npz bundle, an image folder, "
                        "or one of sample, shared, cifar10, cifar100")
    return load_npz(s)
