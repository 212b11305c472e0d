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

import copy
import io
import shutil
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from tqdm import tqdm

from facetransfer.classes import MUT1NY_14
from facetransfer.demo.faces import render_face
from facetransfer.demo.generators import SimulatedGenerator
from facetransfer.demo.options import DETECTION_FOLDER, SEGMENTATION_FOLDER, DemoOptions, DemoSummary
from facetransfer.demo.pictures import FaceSource
from facetransfer.demo.raster import quantize
from facetransfer.ingestion.errors import DemoDataError
from facetransfer.ingestion.readers.artifact import write_metadata

ARTIFACT_CATEGORY = "human_faces"


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


def write_mut1ny_tree(folder: Path, options: DemoOptions) -> int:
    """Write the Mut1ny-format segmentation tree; return the number of pairs."""
    from xml.sax.saxutils import quoteattr

    (folder / "images").mkdir(parents=True)
    (folder / "labels").mkdir()
    faces = FaceSource(options, SEGMENTATION_FOLDER, options.segmentation_face_scale)
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
    faces = FaceSource(options, name, options.detection_face_scale)
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
    write_metadata(folder, rows)
    return count


@dataclass
class FakeFolderResult:
    """What ``write_fake_folder`` wrote: count, differences to real pictures, inconsistency kinds."""

    count: int = 0
    mean_abs_diff: float = 0.0
    artifact_abs_diff: float = 0.0
    inconsistencies: Counter[str] = field(default_factory=Counter)


def _abs_diff_sum(first: np.ndarray, second: np.ndarray) -> int:
    return int(np.abs(first.astype(np.int64) - second.astype(np.int64)).sum(dtype=np.int64))


def write_fake_folder(
    folder: Path,
    generator: str,
    count: int,
    options: DemoOptions,
    *,
    layout: Literal["artifact", "folder"] = "artifact",
) -> FakeFolderResult:
    """Write ``count`` images of one generator family.

    Each image is the family's generated version of a face drawn with the family's semantic
    inconsistencies. The real (coherent) picture of the same face, drawn from a copy of the same
    random stream, only serves to measure the difference.

    Args:
        folder: the output folder (created).
        generator: family name.
        count: number of images.
        options: demo options (seed, size, strengths, identities, noise).
        layout: ``artifact`` (``images/`` + ``metadata.csv``) or ``folder`` (plain PNGs).

    Returns:
        The count, the mean absolute differences to the real pictures and the kinds drawn.
    """
    image_folder = folder / "images" if layout == "artifact" else folder
    image_folder.mkdir(parents=True, exist_ok=True)
    faces = FaceSource(options, generator, options.detection_face_scale)
    simulator = SimulatedGenerator(generator, seed=options.seed, strength=options.artifact_strength)
    result = FakeFolderResult(count=count)
    rows = []
    difference, artifact = 0, 0
    for index in _progress(count, generator):
        person, pose, rng = faces.picture(index)
        flaws = faces.inconsistencies(index, person, pose)
        result.inconsistencies.update(flaws.kinds)
        coherent_rng = copy.deepcopy(rng)  # the real picture draws the same texture noise
        image, _ = render_face(person, pose, options.image_size, rng, flaws)
        noise, low_noise = faces.noise(rng)
        fake = quantize(simulator.generate(image, noise, low_noise))
        artifact += _abs_diff_sum(fake, quantize(image + noise))
        if flaws.kinds:
            coherent, _ = render_face(person, pose, options.image_size, coherent_rng)
            difference += _abs_diff_sum(fake, quantize(coherent + noise))
        else:
            difference += _abs_diff_sum(fake, quantize(image + noise))
        name = faces.name(index, "png")
        (image_folder / name).write_bytes(_png_bytes(fake))
        rows.append((f"images/{name}", 1, ARTIFACT_CATEGORY))
    if layout == "artifact":
        write_metadata(folder, rows)
    pixels = count * options.image_size * options.image_size * 3
    if pixels:
        result.mean_abs_diff, result.artifact_abs_diff = difference / pixels, artifact / pixels
    return result


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
        written = write_fake_folder(
            detection / generator, generator, options.fake_images_per_generator, options
        )
        summary.counts[f"{DETECTION_FOLDER}/{generator}"] = written.count
        _record_differences(summary, generator, written)
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
    written = write_fake_folder(out_dir, generator, count, options, layout=layout)
    summary = DemoSummary(out_dir=out_dir, options=options.model_dump(mode="json"))
    summary.counts[generator] = written.count
    _record_differences(summary, generator, written)
    summary.files_written = sum(1 for path in out_dir.rglob("*") if path.is_file())
    summary.seconds = time.perf_counter() - started
    return summary


def _record_differences(summary: DemoSummary, generator: str, written: FakeFolderResult) -> None:
    summary.mean_abs_diff[generator] = written.mean_abs_diff
    summary.artifact_abs_diff[generator] = written.artifact_abs_diff
    summary.inconsistencies[generator] = dict(sorted(written.inconsistencies.items()))


def _options(options: DemoOptions | None, overrides: dict[str, object]) -> DemoOptions:
    base = options if options is not None else DemoOptions()
    return DemoOptions.model_validate({**base.model_dump(), **overrides}) if overrides else base
