"""Helpers that write small data trees for the data-layer tests (valid, corrupt and hostile files)."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from facetransfer.demo import DemoOptions

TINY_DEMO = DemoOptions(
    seed=0,
    image_size=32,
    segmentation_images=8,
    real_images={"ffhq": 6, "celebahq": 6},
    fake_images_per_generator=6,
)
"""Demo data in every real format, small enough for DVC round trips in a couple of seconds."""


def random_image(seed: int, size: int = 16) -> np.ndarray:
    """A random RGB uint8 image."""
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def write_png(path: Path, array: np.ndarray) -> Path:
    """Write ``array`` as a PNG (parents created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format="PNG")
    return path


def write_jpeg(path: Path, array: np.ndarray) -> Path:
    """Write ``array`` as a JPEG (parents created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format="JPEG", quality=90)
    return path


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def write_corrupt_png(path: Path, seed: int = 1) -> Path:
    """A PNG whose image data has a flipped byte (bad chunk checksum)."""
    data = bytearray(png_bytes(random_image(seed)))
    data[len(data) // 2] ^= 0xFF
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(data))
    return path


def write_truncated_jpeg(path: Path, seed: int = 2) -> Path:
    """A JPEG cut in half."""
    buffer = io.BytesIO()
    Image.fromarray(random_image(seed, 32)).save(buffer, format="JPEG")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    return path


def write_huge_png(path: Path, side: int = 30_000) -> Path:
    """A small file whose PNG header claims ``side``×``side`` pixels (a decompression bomb)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
        )

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data + chunk(b"IEND", b""))
    return path


def write_metadata(folder: Path, rows: list[tuple[str, int]], category: str = "human_faces") -> None:
    """An ArtiFact ``metadata.csv``."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["image_path,target,category"] + [f"{path},{target},{category}" for path, target in rows]
    (folder / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def make_artifact_folder(folder: Path, count: int, *, target: int, seed: int, size: int = 16) -> list[Path]:
    """An ArtiFact folder with ``count`` PNGs listed in its metadata.csv."""
    paths = [
        write_png(folder / "images" / f"{i:03d}.png", random_image(seed * 1000 + i, size))
        for i in range(count)
    ]
    write_metadata(folder, [(f"images/{p.name}", target) for p in paths])
    return paths


def write_blank_palette_png(path: Path, width: int, height: int) -> Path:
    """A valid 1-bit palette PNG of ``width``×``height``, all black (Mut1ny background).

    A few KB even at 20000×20000 (one bit per pixel, compressed row by row), yet decoding it as
    an RGB mask takes gigabytes: the shape of a mask decompression bomb.
    """

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
        )

    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 3, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"PLTE", b"\x00\x00\x00")
        + chunk(b"IDAT", data)
        + chunk(b"IEND", b"")
    )
    return path


MODE_VARIANTS = ("I;16", "L", "LA", "P", "RGBA", "CMYK")
"""Modes a real dataset brings besides RGB, all of which convert faithfully to RGB."""


def write_mode_variants(folder: Path, *, seed: int, size: int = 16) -> list[str]:
    """One image per ``MODE_VARIANTS`` mode (CMYK as JPEG, the others PNG); returns the file names."""
    names = []
    for index, mode in enumerate(MODE_VARIANTS):
        rgb = Image.fromarray(random_image(seed + index, size))
        if mode == "I;16":
            image = Image.fromarray(np.asarray(rgb.convert("L")).astype(np.uint16) * 257)
        else:
            image = rgb.convert(mode)
        name = f"mode_{mode.replace(';', '')}.{'jpg' if mode == 'CMYK' else 'png'}"
        folder.mkdir(parents=True, exist_ok=True)
        image.save(folder / name, quality=95)
        names.append(name)
    return names


def write_float_tiff(path: Path) -> Path:
    """A TIFF of 32-bit float pixels (mode F: no faithful 8-bit RGB conversion), at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ones((16, 16), dtype=np.float32)).save(path, format="TIFF")
    return path
