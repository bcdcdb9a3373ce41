"""Course packs: the result cache in one file a teacher shares (``ucs-lite cache export`` / ``cache import``).

A teacher runs the course once on the class's runtime and exports the cache; a student imports the pack (a path
or a URL; a notebook does it by itself when ``$UCS_LITE_PACK`` names one, :func:`ucs_lite.notebooks.setup`) and
every result the notebooks find there is a cache hit — a changed parameter is a miss and is computed live. Each
hit says where it came from (:func:`ucs_lite.cache.provenance`: date, versions, device, and the pack's name).

A pack is a zip file: ``ucs_lite_pack.json`` (the manifest: format, date, ucs_lite / torch versions, device,
commit where known, and every member's size and SHA-256) plus the cache's own files under ``<kind>/`` (kinds:
:data:`ucs_lite.cache.KINDS`). Importing never overwrites an entry that is already there (it is reported as
skipped), and refuses a file that is not a pack, a damaged one (a checksum differs) or one with a path outside
the cache, with one line, before writing anything.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import subprocess
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__
from .errors import UcsError

__all__ = ["PackError", "ImportReport", "MANIFEST_NAME", "PACK_FORMAT", "export_pack", "import_pack", "read_manifest"]

#: The manifest's name inside a pack.
MANIFEST_NAME = "ucs_lite_pack.json"
#: The manifest's ``format`` value; a zip without it is not a ucs_lite course pack.
PACK_FORMAT = "ucs_lite-course-pack"
PACK_VERSION = 1


class PackError(UcsError, ValueError):
    """A course pack that cannot be written or read (the message is one line naming the file and the fix)."""


def _cache_kinds() -> tuple[str, ...]:
    from .cache import KINDS

    return tuple(KINDS)


def _root(cache_dir: str | os.PathLike | None) -> Path:
    from .cache import cache_root

    return cache_root(cache_dir)


def _device() -> str:
    """This machine's device as a provenance line shows it: the CUDA GPU's name where one is present, else
    ``CPU <machine>``."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"CPU {platform.machine()}".strip()


def _commit() -> str | None:
    """The git commit of the checkout ucs_lite is imported from, where it is one; else ``None``."""
    here = Path(__file__).resolve().parent.parent
    if not (here / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _entry_files(root: Path, kinds: tuple[str, ...]) -> list[Path]:
    """The cache's files of ``kinds`` (entries and their key files; never half-written ``.tmp-`` files)."""
    out = []
    for kind in kinds:
        folder = root / kind
        if folder.is_dir():
            out += sorted(f for f in folder.rglob("*") if f.is_file() and ".tmp-" not in f.name)
    return out


def export_pack(path: str | os.PathLike, kinds: tuple[str, ...] | None = None,
                cache_dir: str | os.PathLike | None = None, overwrite: bool = False) -> dict:
    """Write the cache's entries of ``kinds`` (default: all) into one zip file at ``path``, with a manifest.
    Refuses an existing ``path`` unless ``overwrite``, an unknown kind, and an empty selection. Returns the
    manifest (plus ``"path"`` and ``"bytes"``)."""
    from .data import atomic_write_bytes

    all_kinds = _cache_kinds()
    kinds = tuple(kinds or all_kinds)
    unknown = [k for k in kinds if k not in all_kinds]
    if unknown:
        raise PackError(f"unknown cache kind {unknown[0]!r}; choose from {', '.join(all_kinds)}")
    path = Path(path)
    if path.exists() and not overwrite:
        raise PackError(f"{path} exists; choose another name or pass --force to replace it")
    root = _root(cache_dir)
    files = _entry_files(root, kinds)
    if not files:
        raise PackError(f"nothing to export: the cache {root} has no entries of {', '.join(kinds)}; run the "
                        "notebooks (or ucs-lite compare / sweep) first")
    import torch

    members, buf = [], io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as z:
        for f in files:
            data = f.read_bytes()
            name = f.relative_to(root).as_posix()
            z.writestr(name, data)
            members.append({"name": name, "bytes": len(data), "sha256": _sha256(data)})
        counts = {k: sum(1 for m in members if m["name"].split("/")[0] == k and not m["name"].endswith(".key.json"))
                  for k in kinds}
        manifest = {"format": PACK_FORMAT, "version": PACK_VERSION,
                    "created": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                    "ucs_lite": __version__, "torch": torch.__version__, "device": _device(), "commit": _commit(),
                    "kinds": counts, "files": members}
        z.writestr(MANIFEST_NAME, json.dumps(manifest, indent=1))
    atomic_write_bytes(path, buf.getvalue())
    return {**manifest, "path": str(path), "bytes": path.stat().st_size}


def _fetch(source: str) -> Path:
    """A local copy of a pack given as an http(s) URL (a temporary file); refuses with one line when it cannot
    be downloaded."""
    import urllib.request

    fd, tmp = tempfile.mkstemp(suffix=".zip", prefix="ucs_lite_pack-")
    os.close(fd)
    try:
        urllib.request.urlretrieve(source, tmp)  # noqa: S310 (the user names the URL)
    except Exception as e:
        Path(tmp).unlink(missing_ok=True)
        raise PackError(f"could not download the course pack {source} ({type(e).__name__}: {e}); check the URL "
                        "or download it and pass the file") from e
    return Path(tmp)


def read_manifest(z: zipfile.ZipFile, name: str) -> dict:
    """The manifest of an open pack, checked: a ucs_lite pack of a version this ucs_lite reads, every member
    listed with its checksum and under a cache kind, no path leaving the cache. Raises :class:`PackError`."""
    try:
        manifest = json.loads(z.read(MANIFEST_NAME))
    except KeyError:
        raise PackError(f"{name} is not a ucs_lite course pack (no {MANIFEST_NAME} inside); make one with "
                        "'ucs-lite cache export FILE'") from None
    except ValueError as e:
        raise PackError(f"{name}: its manifest is not valid JSON ({e}); the file is damaged, export it again") from e
    if not isinstance(manifest, dict) or manifest.get("format") != PACK_FORMAT:
        raise PackError(f"{name} is not a ucs_lite course pack (its manifest has format "
                        f"{manifest.get('format') if isinstance(manifest, dict) else None!r})")
    if int(manifest.get("version", 0)) > PACK_VERSION:
        raise PackError(f"{name} is a course pack of a newer format (version {manifest.get('version')}); "
                        "upgrade ucs_lite to import it")
    kinds = _cache_kinds()
    for m in manifest.get("files", []):
        parts = m.get("name", "").split("/")
        if len(parts) < 2 or parts[0] not in kinds or any(p in ("", ".", "..") for p in parts):
            raise PackError(f"{name} lists a file outside the cache ({m.get('name')!r}); refusing it")
    return manifest


@dataclass
class ImportReport:
    """What :func:`import_pack` did: entries added, entries skipped because the cache already had them (same
    bytes) and entries skipped because the cache has a different file under that name (kept, not
    overwritten)."""

    pack: str
    manifest: dict
    added: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    kept_different: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line: what was added and skipped, and where the pack was made."""
        m = self.manifest
        made = f"made {m.get('created')} with ucs_lite {m.get('ucs_lite')}, torch {m.get('torch')} on {m.get('device')}"
        line = f"added {len(self.added)} entries, skipped {len(self.already)} already in the cache"
        if self.kept_different:
            line += (f", kept {len(self.kept_different)} of yours that differ from the pack's (not overwritten: "
                     "ucs-lite cache clear first to take the pack's)")
        return f"{line} ({made})"


def _annotated_key(data: bytes, pack_name: str, manifest: dict) -> bytes:
    """A key file's bytes with ``made.pack`` set to the pack's name (so a hit says it came from the pack);
    ``made`` from the manifest where the entry had none (written before provenance was recorded)."""
    try:
        key = json.loads(data)
    except ValueError:
        return data
    made = dict(key.get("made") or {"date": manifest.get("created"), "ucs_lite": manifest.get("ucs_lite"),
                                    "torch": manifest.get("torch"), "device": manifest.get("device")})
    made["pack"] = pack_name
    key["made"] = made
    return json.dumps(key, indent=1, default=str).encode()


def import_pack(source: str | os.PathLike, cache_dir: str | os.PathLike | None = None) -> ImportReport:
    """Unpack the course pack ``source`` (a file or an http(s) URL) into the cache. Every member is verified
    against the manifest before anything is written; an entry already in the cache is never overwritten (same
    bytes: skipped; different: kept and reported). Raises :class:`PackError` for a file that is not a ucs_lite
    pack or is damaged."""
    from .data import atomic_write_bytes

    source = str(source)
    is_url = source.startswith(("http://", "https://"))
    local = _fetch(source) if is_url else Path(source).expanduser()
    name = source.rsplit("/", 1)[-1] if is_url else local.name
    try:
        if not local.is_file():
            raise PackError(f"{source}: no such file; pass the path (or an http(s) URL) of a course pack")
        if not zipfile.is_zipfile(local):
            raise PackError(f"{source} is not a ucs_lite course pack (not a zip file)")
        with zipfile.ZipFile(local) as z:
            manifest = read_manifest(z, name)
            contents = {}
            for m in manifest.get("files", []):
                try:
                    data = z.read(m["name"])
                except (KeyError, zipfile.BadZipFile, OSError) as e:
                    raise PackError(f"{source} is damaged ({m['name']}: {e}); export it again") from e
                if _sha256(data) != m.get("sha256"):
                    raise PackError(f"{source} is damaged ({m['name']} does not match its checksum); export it again")
                contents[m["name"]] = data
    finally:
        if is_url:
            local.unlink(missing_ok=True)
    root = _root(cache_dir)
    report = ImportReport(name, manifest)
    for member, data in contents.items():
        target = root / member
        is_key = member.endswith(".key.json")
        if target.exists():
            if not is_key:
                (report.already if target.read_bytes() == data else report.kept_different).append(member)
            continue
        atomic_write_bytes(target, _annotated_key(data, name, manifest) if is_key else data)
        if not is_key:
            report.added.append(member)
    return report
