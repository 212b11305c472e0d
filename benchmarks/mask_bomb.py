"""Benchmark: peak memory of ingesting a Mut1ny tree whose one mask is a small, huge-sided PNG.

Usage::

    python benchmarks/mask_bomb.py [--side 10000]

Writes a 64×64 image paired with a valid all-background palette PNG of ``--side``×``--side``
pixels (a few KB: one bit per pixel, compressed), then builds the manifest in a fresh process
and prints that process's peak resident memory (``ru_maxrss``) and the peak of Python-tracked
allocations (``tracemalloc``, which sees numpy arrays but not Pillow's own buffers), next to
the same figures for a tree whose mask is 64×64, and the quarantine check the pair got.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: test data builders
from tests.data.tree_builders import write_blank_palette_png


def write_tree(folder: Path, mask_side: int) -> None:
    """A Mut1ny tree: one 64×64 image and a blank mask of ``mask_side`` pixels a side."""
    (folder / "images").mkdir(parents=True)
    Image.fromarray(np.full((64, 64, 3), 128, dtype=np.uint8)).save(folder / "images" / "a.png")
    write_blank_palette_png(folder / "labels" / "a.png", mask_side, mask_side)
    xml = '<dataset><srcimg name="images\\a.png"/><labelimg name="labels\\a.png"/></dataset>'
    (folder / "training.xml").write_text(xml, encoding="utf-8")


def measure_child(folder: Path) -> None:
    """In this (fresh) process: ingest ``folder`` and print the figures as JSON."""
    from facetransfer.ingestion.manifest import build_manifest

    tracemalloc.start()
    outcome: str
    try:
        result = build_manifest([{"name": "m", "format": "mut1ny", "path": str(folder)}], root="/")
        outcome = ", ".join(result.quarantine["check"]) or f"{len(result.manifest)} rows accepted"
    except MemoryError:
        outcome = "MemoryError"
    _, traced_peak = tracemalloc.get_traced_memory()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    figures = {"peak_rss_mb": peak_kb / 1024, "traced_peak_mb": traced_peak / 2**20, "outcome": outcome}
    print(json.dumps(figures))


def measure(folder: Path) -> dict:
    """Figures of ingesting ``folder`` in a fresh interpreter."""
    command = [sys.executable, __file__, "--child", str(folder)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=10_000, help="side of the huge mask in pixels")
    parser.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        measure_child(args.child)
        return
    from facetransfer.environment import quiet_third_party_telemetry

    quiet_third_party_telemetry()
    with tempfile.TemporaryDirectory(prefix="facetransfer-bench-") as temporary:
        for label, side in (("64x64 mask (baseline)", 64), (f"{args.side}x{args.side} mask", args.side)):
            folder = Path(temporary) / f"side{side}"
            write_tree(folder, side)
            size_kb = (folder / "labels" / "a.png").stat().st_size / 1024
            figures = measure(folder)
            print(
                f"{label} ({size_kb:.0f} KB file): peak RSS {figures['peak_rss_mb']:.0f} MB, "
                f"tracemalloc peak {figures['traced_peak_mb']:.1f} MB, outcome: {figures['outcome']}"
            )


if __name__ == "__main__":
    main()
