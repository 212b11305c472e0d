"""Detector seeds on the demo data: per-seed test ROC-AUC and F1 of each transfer variant, mean ± sd.

Trains the three detector variants (none / last / all) of one backbone for several detector
seeds on the demo data, with the settings the pipeline uses (``zenml_config.yaml``: the
``detector`` block with its backbone override, the ``segmenter`` block, the data split), from one
trained segmenter shared by every seed. Each detector is evaluated as the pipeline does: the
threshold is chosen on the validation split (``evaluation.threshold_rule``), metrics are computed
on the test split. Per seed it also prints the training-loss curve, the epochs run and the best
epoch, so a detector that sat at the ln 2 plateau (loss ~0.693) shows.

The demo data is generated into ``--workdir`` with the options recorded in ``data.dvc`` (the data a
fresh clone gets); the segmenter's checkpoint is kept there too, so a second run with the same
settings reuses it. Detector checkpoints are not kept: every run retrains them with the current code.

Usage:
    python benchmarks/detector_seeds.py [--seeds 0 1 2 3 4] [--variants none last all]
        [--backbone mobilenet_v3_large] [--workdir .local/bench/detector_seeds] [--threads 1]
        [--set min_epochs=0 ...]

``--set key=value`` changes one detector ``train`` setting for every run (e.g. ``--set
augment=false``, ``--set min_epochs=0`` for the earlier early-stopping rule, ``--set
horizontal_flip=mirror`` for the earlier flip). The default run (15 MobileNetV3 detectors at 64 px)
took 737 s on a shared 2-core CPU with one thread.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from facetransfer.classes import get_scheme
from facetransfer.config import RunConfig, load_run_config
from facetransfer.demo import DemoOptions, generate_demo_data
from facetransfer.environment import quiet_third_party_telemetry
from facetransfer.evaluation import choose_threshold, detection_metrics
from facetransfer.ingestion.versioning import read_dvc_meta
from facetransfer.models import BACKBONES, VARIANTS
from facetransfer.training import TrainConfig, train_detector, train_segmenter
from facetransfer.workflow.detector import report_preprocessing, score_detector
from facetransfer.workflow.ingestion import ingest, split
from facetransfer.workflow.model_runs import split_frame

CHANCE_ROC_AUC = 0.7
"""A detector below this test ROC-AUC is counted as having ended at (or near) chance."""


def demo_manifests(config: RunConfig, workdir: Path, repo_root: Path) -> dict[str, Any]:
    """Generate the demo data into ``workdir`` (once) and return the split manifests by kind."""
    dvc_file = repo_root / "data.dvc"
    recorded = read_dvc_meta(dvc_file).get("demo_options") if dvc_file.is_file() else None
    options = DemoOptions.model_validate(recorded or {})
    data_dir = workdir / "data"
    if not (data_dir / "detection").is_dir():
        generate_demo_data(data_dir, options)
    # The pipeline's data settings, rooted at the work folder (no DVC pointer there).
    data = config.data.model_copy(update={"root": ".", "dvc_file": "no-pointer.dvc", "cache_dir": "cache"})
    manifests = {}
    for kind in ("segmentation", "detection"):
        manifest, _, _ = ingest(data, kind, base=workdir, faces=config.faces)
        manifests[kind], _ = split(manifest, data.split_ratios, data.split_seed)
    return manifests


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``key=value`` pairs (values read as YAML) for the detector's ``train`` settings."""
    overrides = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator:
            raise SystemExit(f"--set expects key=value, got {pair!r}")
        overrides[key] = yaml.safe_load(value)
    return overrides


def evaluate(model: torch.nn.Module, manifest: Any, report: dict[str, Any], config: RunConfig) -> dict:
    """Threshold on validation, metrics on test (as ``evaluate_and_log_detector``, without logging)."""
    preprocessing = report_preprocessing(report)
    batch_size = config.evaluation.batch_size
    val, test = (
        score_detector(model, split_frame(manifest, s), preprocessing=preprocessing, batch_size=batch_size)
        for s in ("val", "test")
    )
    settings = config.evaluation
    threshold = choose_threshold(
        val["label"], val["score"], rule=settings.threshold_rule, fixed=settings.fixed_threshold
    )
    return detection_metrics(test["label"], test["score"], threshold)


def main() -> None:
    """Parse arguments, train the segmenter once and every (seed, variant) detector, print the table."""
    quiet_third_party_telemetry()
    logging.basicConfig(level=logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("zenml_config.yaml"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--backbone", default="mobilenet_v3_large", choices=list(BACKBONES))
    parser.add_argument("--workdir", type=Path, default=Path(".local/bench/detector_seeds"))
    parser.add_argument("--threads", type=int, default=1, help="intra-op CPU threads (1 on a shared machine)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], help="detector train setting key=value"
    )
    args = parser.parse_args()

    run_config = load_run_config(args.config)
    workdir = args.workdir.absolute()
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    manifests = demo_manifests(run_config, workdir, args.config.absolute().parent)
    detection = manifests["detection"]
    counts = detection["split"].value_counts().to_dict()
    print(f"demo detection images per split: {counts}; data in {workdir / 'data'}", flush=True)

    segmenter_settings = run_config.segmenter.for_backbone(args.backbone)
    segmenter_config = segmenter_settings.train.model_copy(update={"cpu_threads": args.threads})
    segmenter = train_segmenter(
        split_frame(manifests["segmentation"], "train"),
        split_frame(manifests["segmentation"], "val"),
        backbone=args.backbone,
        scheme=get_scheme(run_config.data.class_scheme),
        config=segmenter_config,
        checkpoint_dir=workdir / f"segmenter-{args.backbone}",
        pretrained=segmenter_settings.pretrained,
    )
    print(
        f"segmenter {args.backbone}: {segmenter.epochs_run} epochs, best {segmenter.best_epoch}, "
        f"{time.perf_counter() - started:.0f} s since start",
        flush=True,
    )

    detector_settings = run_config.detector.for_backbone(args.backbone)
    base = {**detector_settings.train.model_dump(), **parse_overrides(args.overrides)}
    base["cpu_threads"] = args.threads
    print(f"detector settings: {TrainConfig.model_validate(base).model_dump(exclude={'distributed'})}")
    rows: dict[int, dict[str, dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="detector-seeds-") as scratch:
        for seed in args.seeds:
            config = TrainConfig.model_validate({**base, "seed": seed})
            rows[seed] = {}
            for variant in args.variants:
                result = train_detector(
                    split_frame(detection, "train"),
                    split_frame(detection, "val"),
                    backbone=args.backbone,
                    variant=variant,
                    segmenter=segmenter.model if variant != "none" else None,
                    config=config,
                    checkpoint_dir=Path(scratch) / f"{seed}-{variant}",
                    pretrained=detector_settings.pretrained,
                )
                report = {
                    "backbone": args.backbone,
                    "image_size": config.image_size,
                    "preprocessing": config.preprocessing(args.backbone).to_dict(),
                }
                metrics = evaluate(result.model, detection, report, run_config)
                curve = " ".join(f"{record['train_loss']:.3f}" for record in result.history)
                val_curve = " ".join(f"{record['val_loss']:.3f}" for record in result.history)
                rows[seed][variant] = {**metrics, "epochs": result.epochs_run, "best": result.best_epoch}
                print(
                    f"seed {seed} {variant:>4}: test ROC-AUC {metrics['roc_auc']:.3f} "
                    f"F1 {metrics['f1']:.3f}, "
                    f"{result.epochs_run} epochs (best {result.best_epoch}, "
                    f"{'stopped early' if result.stopped_early else 'ran all'}), train loss {curve}, "
                    f"val loss {val_curve}; "
                    f"{time.perf_counter() - started:.0f} s since start",
                    flush=True,
                )
    print_table(rows, args.variants)
    print(f"total {time.perf_counter() - started:.0f} s")


def print_table(rows: dict[int, dict[str, dict[str, Any]]], variants: list[str]) -> None:
    """Markdown table: per seed ROC-AUC / F1 (epochs run) per variant, then mean ± sd."""
    header = "| seed | " + " | ".join(f"{v} ROC-AUC | {v} F1" for v in variants) + " |"
    print(header)
    print("|" + "---|" * (1 + 2 * len(variants)))
    for seed, by_variant in rows.items():
        cells = []
        for variant in variants:
            cell = by_variant[variant]
            cells += [f"{cell['roc_auc']:.3f}", f"{cell['f1']:.3f} ({cell['epochs']} ep.)"]
        print(f"| {seed} | " + " | ".join(cells) + " |")
    summary = []
    for variant in variants:
        for metric in ("roc_auc", "f1"):
            values = [by_variant[variant][metric] for by_variant in rows.values()]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            summary.append(f"{statistics.mean(values):.3f} ± {spread:.3f}")
    print("| mean ± sd | " + " | ".join(summary) + " |")
    at_chance = [
        f"seed {seed} {variant}"
        for seed, by_variant in rows.items()
        for variant in variants
        if by_variant[variant]["roc_auc"] < CHANCE_ROC_AUC
    ]
    print(f"detectors with test ROC-AUC < {CHANCE_ROC_AUC}: {', '.join(at_chance) or 'none'}")


if __name__ == "__main__":
    main()
