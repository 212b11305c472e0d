"""Write the demo dataset in the real distributed formats (read back by the real readers).

Layout written by ``generate_demo_data(out_dir)``::

    out_dir/segmentation/training.xml           Mut1ny index: <srcimg name="images\\id00000_0.png"/>
                                                 followed by <labelimg name="labels\\id00000_0.png"/>
    out_dir/segmentation/images/idNNNNN_K.png   procedural faces
    out_dir/segmentation/labels/idNNNNN_K.png   RGB label images in the exact Mut1ny-14 palette
    out_dir/detection/<real>/metadata.csv       ArtiFact folders of real faces: image_path,target,category
    out_dir/detection/<real>/images/...         (ffhq: PNG; celebahq: JPEG)
    out_dir/detection/<generator>/metadata.csv  one ArtiFact folder per simulated generator family
    out_dir/detection/<generator>/images/...    (PNG)

Every image is drawn from its own random stream, derived from (seed, folder, identity, picture),
so an image does not depend on how many others are written. PNGs are written with fixed Pillow
options and no metadata, JPEGs with fixed quality/subsampling, the XML and CSV files by hand with
``\\n`` line ends: the same options give byte-identical files and therefore the same DVC hash.
"""

from __future__ import annotations

import csv
import hashlib
import io
import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import numpy as np
from tqdm import tqdm

from facetransfer.classes import MUT1NY_14
from facetransfer.data.demo.faces import FaceIdentity, FacePose, render_face
from facetransfer.data.demo.generators import SimulatedGenerator
from facetransfer.data.demo.options import DETECTION_FOLDER, SEGMENTATION_FOLDER, DemoOptions, DemoSummary
from facetransfer.data.demo.raster import quantize
from facetransfer.data.errors import DemoDataError

ARTIFACT_CATEGORY = "human_faces"


def stream(seed: int, *parts: object) -> np.random.Generator:
    """Independent random stream named by ``parts`` (stable across numpy versions and platforms)."""
    digest = hashlib.sha256(":".join(str(p) for p in (seed, *parts)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "big"))


def camera_noise(rng: np.random.Generator, shape: tuple[int, ...], level: int) -> np.ndarray:
    """Sensor-like noise: a sum of four integers uniform in [-level, level] (no transcendental maths)."""
    if level == 0:
        return np.zeros(shape)
    total = np.zeros(shape, dtype=np.int64)
    for _ in range(4):
        total += rng.integers(-level, level + 1, size=shape)
    return total.astype(np.float64)


class _FaceSource:
    """Faces of one folder: identity ``index // images_per_identity``, picture ``index % ...``."""

    def __init__(self, options: DemoOptions, folder: str) -> None:
        self.options = options
        self.folder = folder

    def name(self, index: int, extension: str) -> str:
        """File name of image ``index``: ``id<identity>_<picture>.<extension>``."""
        identity, picture = divmod(index, self.options.images_per_identity)
        return f"id{identity:05d}_{picture}.{extension}"

    def render(self, index: int) -> tuple[np.ndarray, np.ndarray, np.random.Generator]:
        """``(float image, class ids, picture rng)`` of image ``index`` (noise not yet added)."""
        identity, picture = divmod(index, self.options.images_per_identity)
        person = FaceIdentity.sample(stream(self.options.seed, self.folder, "identity", identity))
        rng = stream(self.options.seed, self.folder, "picture", identity, picture)
        pose = FacePose.sample(rng)
        image, labels = render_face(person, pose, self.options.image_size, rng)
        return image, labels, rng

    def noise(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Camera noise at full resolution and, of the same level, at half resolution."""
        level = self.options.noise_levels[int(rng.integers(len(self.options.noise_levels)))]
        size = self.options.image_size
        return camera_noise(rng, (size, size, 3), level), camera_noise(rng, (size // 2, size // 2, 3), level)


def _progress(count: int, folder: str) -> Iterable[int]:
    """``range(count)`` with a progress bar on a terminal (none in logs and tests)."""
    return tqdm(range(count), desc=f"writing {folder}", unit="image", disable=None, leave=False)


def _png_bytes(array: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", compress_level=6, optimize=False)
    return buffer.getvalue()


def _jpeg_bytes(array: np.ndarray, quality: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(
        buffer, format="JPEG", quality=quality, subsampling=2, optimize=False, progressive=False
    )
    return buffer.getvalue()


def _prepare(folder: Path, overwrite: bool) -> None:
    if folder.exists() and any(folder.iterdir()):
        if not overwrite:
            raise DemoDataError(
                f"{folder} exists and is not empty; pass overwrite=True (--force) to replace it"
            )
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)


def _write_csv(path: Path, rows: list[tuple[str, int, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["image_path", "target", "category"])
        writer.writerows(rows)


def write_mut1ny_tree(folder: Path, options: DemoOptions) -> int:
    """Write the Mut1ny-format segmentation tree; return the number of pairs."""
    from xml.sax.saxutils import quoteattr

    (folder / "images").mkdir(parents=True)
    (folder / "labels").mkdir()
    faces = _FaceSource(options, SEGMENTATION_FOLDER)
    entries = []
    for index in _progress(options.segmentation_images, SEGMENTATION_FOLDER):
        image, labels, rng = faces.render(index)
        name = faces.name(index, "png")
        (folder / "images" / name).write_bytes(_png_bytes(quantize(image + faces.noise(rng)[0])))
        (folder / "labels" / name).write_bytes(_png_bytes(MUT1NY_14.encode_mask(labels)))
        # Mut1ny lists Windows-style relative paths.
        image_attribute, label_attribute = quoteattr("images\\" + name), quoteattr("labels\\" + name)
        entries.append(f"  <srcimg name={image_attribute}/>\n  <labelimg name={label_attribute}/>\n")
    xml = '<?xml version="1.0" encoding="utf-8"?>\n<dataset>\n' + "".join(entries) + "</dataset>\n"
    (folder / "training.xml").write_text(xml, encoding="utf-8", newline="\n")
    return options.segmentation_images


def write_real_folder(folder: Path, name: str, count: int, options: DemoOptions) -> int:
    """Write one real ArtiFact folder of ``count`` faces; return the count."""
    (folder / "images").mkdir(parents=True)
    faces = _FaceSource(options, name)
    as_jpeg = name in options.jpeg_real_sources
    rows = []
    for index in _progress(count, name):
        image, _, rng = faces.render(index)
        pixels = quantize(image + faces.noise(rng)[0])
        if as_jpeg:
            quality = int(rng.integers(options.jpeg_quality[0], options.jpeg_quality[1] + 1))
            relative, data = f"images/{faces.name(index, 'jpg')}", _jpeg_bytes(pixels, quality)
        else:
            relative, data = f"images/{faces.name(index, 'png')}", _png_bytes(pixels)
        (folder / relative).write_bytes(data)
        rows.append((relative, 0, ARTIFACT_CATEGORY))
    _write_csv(folder / "metadata.csv", rows)
    return count


def write_fake_folder(
    folder: Path,
    generator: str,
    count: int,
    options: DemoOptions,
    *,
    layout: Literal["artifact", "folder"] = "artifact",
) -> tuple[int, float]:
    """Write ``count`` images of one generator family.

    Args:
        folder: the output folder (created).
        generator: family name.
        count: number of images.
        options: demo options (seed, size, strength, identities, noise).
        layout: ``artifact`` (``images/`` + ``metadata.csv``) or ``folder`` (plain PNGs).

    Returns:
        ``(count, mean absolute difference to the real picture of the same face)``.
    """
    image_folder = folder / "images" if layout == "artifact" else folder
    image_folder.mkdir(parents=True, exist_ok=True)
    faces = _FaceSource(options, generator)
    simulator = SimulatedGenerator(generator, seed=options.seed, strength=options.artifact_strength)
    rows = []
    difference = 0
    for index in _progress(count, generator):
        image, _, rng = faces.render(index)
        noise, low_noise = faces.noise(rng)
        fake = quantize(simulator.generate(image, noise, low_noise))
        real = quantize(image + noise)
        difference += int(np.abs(fake.astype(np.int64) - real.astype(np.int64)).sum(dtype=np.int64))
        name = faces.name(index, "png")
        (image_folder / name).write_bytes(_png_bytes(fake))
        rows.append((f"images/{name}", 1, ARTIFACT_CATEGORY))
    if layout == "artifact":
        _write_csv(folder / "metadata.csv", rows)
    pixels = count * options.image_size * options.image_size * 3
    return count, difference / pixels if pixels else 0.0


def generate_demo_data(
    out_dir: str | Path, options: DemoOptions | None = None, *, overwrite: bool = False, **overrides: object
) -> DemoSummary:
    """Write the demo dataset (Mut1ny-format segmentation tree + ArtiFact-format detection root).

    Args:
        out_dir: output folder (``data`` in the project); ``segmentation/`` and ``detection/``
            are written inside it.
        options: dataset options; keyword ``overrides`` (e.g. ``seed=1``) replace single fields.
        overwrite: replace existing ``segmentation/`` and ``detection/`` folders.

    Returns:
        What was written, with the measured real-vs-generated pixel difference per family.

    Raises:
        DemoDataError: an output folder exists and is not empty, and ``overwrite`` is False.
        pydantic.ValidationError: invalid options.
    """
    options = _options(options, overrides)
    started = time.perf_counter()
    out_dir = Path(out_dir)
    segmentation, detection = out_dir / SEGMENTATION_FOLDER, out_dir / DETECTION_FOLDER
    _prepare(segmentation, overwrite)
    _prepare(detection, overwrite)
    summary = DemoSummary(out_dir=out_dir, options=options.model_dump(mode="json"))
    summary.counts[SEGMENTATION_FOLDER] = write_mut1ny_tree(segmentation, options)
    for name, count in sorted(options.real_images.items()):
        summary.counts[f"{DETECTION_FOLDER}/{name}"] = write_real_folder(
            detection / name, name, count, options
        )
    for generator in options.generators:
        count, difference = write_fake_folder(
            detection / generator, generator, options.fake_images_per_generator, options
        )
        summary.counts[f"{DETECTION_FOLDER}/{generator}"] = count
        summary.mean_abs_diff[generator] = difference
    summary.files_written = sum(1 for path in out_dir.rglob("*") if path.is_file())
    summary.seconds = time.perf_counter() - started
    return summary


def write_generator_folder(
    out_dir: str | Path,
    generator: str,
    *,
    count: int = 128,
    layout: Literal["artifact", "folder"] = "artifact",
    overwrite: bool = False,
    options: DemoOptions | None = None,
    **overrides: object,
) -> DemoSummary:
    """Write one generator family's images alone, e.g. a "new generator" for ``add-generator``.

    Args:
        out_dir: the folder to write (``images/`` + ``metadata.csv`` for ``artifact``, plain PNGs
            for ``folder``).
        generator: family name (``pixel_shuffle`` is the one the default demo data leaves out).
        count: number of images.
        layout: ``artifact`` or ``folder``.
        overwrite: replace a non-empty ``out_dir``.
        options: seed, size, strength, noise (``generators``/counts are ignored); ``overrides``
            replace single fields.
    """
    options = _options(options, overrides)
    started = time.perf_counter()
    out_dir = Path(out_dir)
    _prepare(out_dir, overwrite)
    written, difference = write_fake_folder(out_dir, generator, count, options, layout=layout)
    return DemoSummary(
        out_dir=out_dir,
        options=options.model_dump(mode="json"),
        counts={generator: written},
        mean_abs_diff={generator: difference},
        files_written=sum(1 for path in out_dir.rglob("*") if path.is_file()),
        seconds=time.perf_counter() - started,
    )


def _options(options: DemoOptions | None, overrides: dict[str, object]) -> DemoOptions:
    base = options if options is not None else DemoOptions()
    return DemoOptions.model_validate({**base.model_dump(), **overrides}) if overrides else base
