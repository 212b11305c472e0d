"""Benchmark of the data layer: demo generation, manifest building (cold, re-ingest) and GX validation.

Usage::

    python benchmarks/ingest.py [--images 6000] [--rows 300000] [--workdir DIR]

Prints demo-data generation speed, images/s for building the manifest from a cold cache and
for re-ingesting the unchanged tree (which must hash nothing), and the seconds to validate a
synthetic manifest of ``--rows`` rows with the detection suite and to build its Data Docs report.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from facetransfer.demo import DemoOptions, generate_demo_data
from facetransfer.environment import quiet_third_party_telemetry
from facetransfer.ingestion.manifest import build_manifest
from facetransfer.ingestion.splitting import assign_splits
from facetransfer.validation import validate_detection_manifest
from facetransfer.validation.data_docs import build_data_docs


def benchmark_ingest(workdir: Path, images: int) -> None:
    """Generate ``images`` demo images, then time cold and warm manifest builds."""
    per_part = images // 4
    options = DemoOptions(
        segmentation_images=per_part,
        real_images={"ffhq": per_part // 2, "celebahq": per_part - per_part // 2},
        fake_images_per_generator=(images - 2 * per_part) // 3,
    )
    summary = generate_demo_data(workdir / "data", options)
    total = sum(summary.counts.values())
    print(f"demo data: {total} images in {summary.seconds:.1f} s = {summary.images_per_second:.0f} images/s")
    sources, cache = summary.source_configs(), workdir / "cache"
    for label in ("cold", "re-ingest"):
        started = time.perf_counter()
        result = build_manifest(sources, root="/", cache_dir=cache)
        seconds = time.perf_counter() - started
        hashed = result.report["hashing"]["hashed_files"]
        print(
            f"manifest {label}: {len(result.manifest)} images in {seconds:.2f} s = "
            f"{len(result.manifest) / seconds:.0f} images/s ({hashed} files hashed)"
        )


def synthetic_manifest(rows: int, seed: int = 0) -> pd.DataFrame:
    """A detection manifest of ``rows`` rows: 1/3 real (two sources), 2/3 generated (four generators)."""
    rng = np.random.default_rng(seed)
    digests = rng.integers(0, 256, size=(rows, 32), dtype=np.uint8)
    label = (np.arange(rows) % 3 != 0).astype("int64")
    real_sources = np.array(["ffhq", "celebahq"])
    generators = np.array(["stylegan1", "stylegan2", "stylegan3", "stable_diffusion"])
    generator = pd.Series(generators[rng.integers(0, 4, rows)]).where(label == 1, None)
    frame = pd.DataFrame(
        {
            "path": [f"/data/detection/img{i:07d}.png" for i in range(rows)],
            "sha256": [bytes(row).hex() for row in digests],
            "label": label,
            "source": generator.fillna(pd.Series(real_sources[rng.integers(0, 2, rows)])),
            "generator": generator,
            "width": 200,
            "height": 200,
            "mode": "RGB",
            "identity": None,
        }
    )
    frame["split"] = assign_splits(frame, seed=seed)
    return frame


def benchmark_validation(rows: int) -> None:
    """Time the detection suite and its Data Docs on a synthetic manifest (GX import excluded)."""
    frame = synthetic_manifest(rows)
    validate_detection_manifest(frame.head(1000))  # pays the great-expectations import once
    started = time.perf_counter()
    result = validate_detection_manifest(frame)
    seconds = time.perf_counter() - started
    print(f"validation of a synthetic {rows}-row manifest: {seconds:.1f} s (success={result.success})")
    with tempfile.TemporaryDirectory(prefix="facetransfer-docs-") as site:
        started = time.perf_counter()
        build_data_docs(result, site)
        print(f"its Data Docs report: {time.perf_counter() - started:.1f} s")


def main() -> None:
    """Run the benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=6000, help="demo images to ingest")
    parser.add_argument(
        "--rows", type=int, default=300_000, help="rows of the synthetic manifest to validate"
    )
    parser.add_argument(
        "--workdir", type=Path, default=None, help="folder for the data (default: a temp dir)"
    )
    args = parser.parse_args()
    quiet_third_party_telemetry()
    with tempfile.TemporaryDirectory(prefix="facetransfer-bench-") as temporary:
        benchmark_ingest(args.workdir or Path(temporary), args.images)
    benchmark_validation(args.rows)


if __name__ == "__main__":
    main()
