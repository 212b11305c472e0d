"""Small good trees in each real format, into which a case puts its one bad thing."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import numpy as np

from facetransfer.classes import MUT1NY_14
from tests.data.tree_builders import random_image, write_jpeg, write_metadata, write_png

IMAGE_SIZE = 16
"""Side of the corpus images: tiny, so the corpus runs in seconds."""


def face_mask(size: int = IMAGE_SIZE) -> np.ndarray:
    """Mut1ny colour mask: a face (square) on background, half and half."""
    ids = np.zeros((size, size), dtype=np.uint8)
    ids[:, : size // 2] = MUT1NY_14.id_of("face")
    return MUT1NY_14.encode_mask(ids)


def plain_folder(root: Path, good: int = 2, *, role: str = "real", name: str = "mine") -> dict[str, Any]:
    """A folder source of ``good`` PNGs directly under ``root/name``; returns its declaration."""
    for index in range(good):
        write_png(root / name / f"good{index}.png", random_image(100 + index, IMAGE_SIZE))
    return {"name": name, "format": "folder", "path": str(root / name), "role": role}


def artifact_root(root: Path, good: int = 2, *, generators: tuple[str, ...] = ("gan",)) -> dict[str, Any]:
    """An ArtiFact root: a real folder ``ffhq`` and generator folders, ``good`` images each."""
    for offset, name in enumerate(("ffhq", *generators)):
        artifact_folder(root / "artifact" / name, good, target=0 if name == "ffhq" else 1, seed=10 * offset)
    return {"name": "artifact", "format": "artifact", "path": str(root / "artifact"), "real": ["ffhq"]}


def artifact_folder(folder: Path, count: int, *, target: int, seed: int) -> list[str]:
    """An ArtiFact folder of ``count`` PNGs listed with ``target``; returns their ``image_path`` values."""
    names = [f"images/{index:03d}.png" for index in range(count)]
    for index, name in enumerate(names):
        write_png(folder / name, random_image(seed + index, IMAGE_SIZE))
    write_metadata(folder, [(name, target) for name in names])
    return names


def mut1ny_tree(root: Path, good: int = 2, *, extra_xml: str = "") -> tuple[Path, dict[str, Any]]:
    """A Mut1ny tree of ``good`` pairs (``extra_xml`` appended to its index); folder and declaration."""
    folder = root / "mut1ny"
    entries = []
    for index in range(good):
        write_png(folder / "images" / f"p{index}.png", random_image(200 + index, IMAGE_SIZE))
        write_png(folder / "labels" / f"p{index}.png", face_mask())
        entries.append(f'<srcimg name="images\\p{index}.png"/><labelimg name="labels\\p{index}.png"/>')
    write_mut1ny_index(folder, "".join(entries) + extra_xml)
    return folder, {"name": "mut1ny", "format": "mut1ny", "path": str(folder)}


def write_mut1ny_index(folder: Path, entries: str) -> None:
    """``training.xml`` listing ``entries``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "training.xml").write_text(f"<dataset>{entries}</dataset>", encoding="utf-8")


def mut1ny_pair_xml(image: str, label: str) -> str:
    """One Mut1ny pair with Windows separators, as distributed."""
    image, label = image.replace("/", "\\"), label.replace("/", "\\")
    return f'<srcimg name="{image}"/><labelimg name="{label}"/>'


def celebamask_tree(root: Path, good: int = 2) -> tuple[Path, dict[str, Any]]:
    """A CelebAMask-HQ tree: ``good`` 32 px JPEGs with 16 px ``skin`` part masks (half the size)."""
    folder = root / "celebamask"
    part = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    part[4:12, 4:12] = 255
    for index in range(good):
        write_jpeg(folder / "CelebA-HQ-img" / f"{index}.jpg", random_image(300 + index, 2 * IMAGE_SIZE))
        write_png(folder / "CelebAMask-HQ-mask-anno" / "0" / f"{index:05d}_skin.png", part)
    return folder, {"name": "celebamask", "format": "celebamask_hq", "path": str(folder)}


def non_utf8_name(folder: Path, stem: bytes = b"caf\xe9") -> Path:
    """A path in ``folder`` whose file name holds a byte that is not UTF-8 (as a latin-1 system writes)."""
    return Path(os.fsdecode(os.fsencode(folder) + b"/" + stem + b".png"))


def closed_port_uri() -> str:
    """``http://127.0.0.1:<port>`` of a port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"
