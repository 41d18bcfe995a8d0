"""Which files are images, and the photos a user asks to paint: no torch here, so `dashboards.best` can check
its input folder before it reads the registry without loading training code."""
from __future__ import annotations

from pathlib import Path

from .configtools import UserError

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}


def image_files(folder: Path) -> list[Path]:
    """Image files of a folder, sorted by name; hidden files (.DS_Store, ._x.jpg) are ignored."""
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS)


def photos_to_paint(folder: Path) -> list[Path]:
    """The photos in input=, with errors that speak of photos to paint (not of a training dataset)."""
    if not folder.exists():
        raise UserError(f"input={folder} does not exist; put the photos to paint in a folder and pass it as input=FOLDER")
    if not folder.is_dir():
        raise UserError(f"input={folder} is a file; pass the folder that holds the photos to paint")
    files = image_files(folder)
    if not files:
        raise UserError(f"no photos to paint in input={folder} (looked for {' '.join(sorted(IMAGE_EXTENSIONS))}); "
                        "copy your photos there")
    return files
