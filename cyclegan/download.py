"""The official CycleGAN datasets: downloaded once into a cache, verified, extracted safely.

`<data.url>/<name>.zip` is streamed to `<cache>/<name>.zip.part` with a progress bar, checked to be a
real zip (a server's HTML error page is not), then renamed. Extraction refuses any member with an
absolute path or `..` (zip-slip) and goes to a temporary folder that is renamed into place only when
complete, so an interrupted run never leaves a half-extracted dataset that looks finished.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from .config import default_cache_dir
from .configtools import UserError


def dataset_root(root: str | None) -> Path:
    return Path(root).expanduser() if root else Path(default_cache_dir()) / "datasets"


def ensure_dataset(name: str, root: str | None, base_url: str, allow_download: bool = True) -> Path:
    """Return `<root>/<name>` with trainA/ trainB/ testA/ testB/, downloading it first if needed."""
    cache = dataset_root(root)
    target = cache / name
    if (target / "trainA").is_dir():
        return target
    where = (f"download {base_url}/{name}.zip elsewhere and unzip it so that {target}/trainA exists, "
             f"or use data.name=folder data.root=DIR")
    if not allow_download:
        raise UserError(f"dataset {name} is not in {cache} and data.download=false; {where}")
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the dataset cache {cache}: {exc.strerror}; set data.root to a writable folder") from None
    archive = download(f"{base_url.rstrip('/')}/{name}.zip", cache / f"{name}.zip", where)
    extract(archive, target, name)
    archive.unlink()
    return target


def download(url: str, dest: Path, where: str) -> Path:
    part = dest.with_name(f"{dest.name}.{os.getpid()}.part")  # concurrent downloaders never share a file
    try:
        with urllib.request.urlopen(url, timeout=30) as response, open(part, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"downloading {dest.name}") as bar:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    bar.update(len(chunk))
            if total is not None and out.tell() != total:
                raise UserError(f"download of {url} was cut short ({out.tell()} of {total} bytes); run again or {where}")
    except UserError:
        part.unlink(missing_ok=True)
        raise
    except urllib.error.HTTPError as exc:
        part.unlink(missing_ok=True)
        raise UserError(f"cannot download {url}: HTTP {exc.code}; check data.url or {where}") from None
    except (urllib.error.URLError, OSError) as exc:
        part.unlink(missing_ok=True)
        reason = getattr(exc, "reason", None) or exc
        raise UserError(f"cannot download {url} (offline?): {reason}; {where}") from None
    if not zipfile.is_zipfile(part):
        part.unlink()
        raise UserError(f"{url} did not return a zip file (an error page?); check data.url or {where}")
    os.replace(part, dest)
    return dest


def safe_members(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    members = archive.infolist()
    for info in members:
        path = PurePosixPath(info.filename.replace("\\", "/"))
        if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
            raise UserError(f"refusing to extract {archive.filename}: member {info.filename!r} would be written "
                            "outside the dataset folder (zip-slip); the archive is unsafe, delete it")
    return members


def extract(archive_path: Path, target: Path, name: str) -> None:
    """Extract `<name>/trainA ...` (or a flat `trainA ...`) from the zip into `target`, atomically."""
    try:
        with zipfile.ZipFile(archive_path) as archive:
            members = safe_members(archive)
            staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=target.parent))
            try:
                archive.extractall(staging, members)
                inner = staging / name if (staging / name / "trainA").is_dir() else staging
                if not (inner / "trainA").is_dir():
                    raise UserError(f"{archive_path} has no trainA/ folder; it is not a CycleGAN dataset")
                try:
                    os.replace(inner, target)
                except OSError:
                    if not (target / "trainA").is_dir():  # else another process extracted it first
                        raise
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    except (zipfile.BadZipFile, EOFError) as exc:
        archive_path.unlink(missing_ok=True)
        raise UserError(f"{archive_path} is a damaged zip ({exc}); delete it and run again") from None
