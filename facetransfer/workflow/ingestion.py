"""Ingestion and splitting: configured sources → a checked manifest → leakage-free splits.

DVC-aware: when the data root holds a ``.dvc`` pointer, the tracked data is made present first
(pulled, or regenerated and verified for the demo data) and checked against the pointer with
DVC's own status; a workspace that differs is an error, so the pointer's md5 is the version of
the data the run actually reads.

Data identity (what provenance tags and ``facetransfer retrain`` compare): ``dvc:<md5>`` when
every configured source lies inside the DVC-tracked folder; otherwise DVC knows nothing of (some
of) the data and the content fingerprint of the manifest stands in: ``content:<sha256>``.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from facetransfer.config import DataSettings
from facetransfer.demo.provision import ensure_data
from facetransfer.faces.face_settings import FaceSettings
from facetransfer.ingestion.hashing import data_fingerprint, source_fingerprints
from facetransfer.ingestion.manifest import build_manifest
from facetransfer.ingestion.sources import SourceConfig
from facetransfer.ingestion.splitting import assign_splits, split_counts_by_stratum, validate_ratios
from facetransfer.ingestion.versioning import read_dvc_md5
from facetransfer.validation.suites import face_presence_table

logger = logging.getLogger(__name__)

Kind = Literal["segmentation", "detection"]
QUARANTINE_REPORT_ROWS = 200
"""Quarantined files listed in a report (all of them go to the logged quarantine table)."""


def ingest(
    settings: DataSettings, kind: Kind, *, base: str | Path, faces: FaceSettings | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Build the (unsplit) manifest of the ``kind`` sources.

    Args:
        settings: data settings of the run.
        kind: which sources: ``segmentation`` or ``detection``.
        base: folder the settings' ``root`` is relative to (the ZenML repository root).
        faces: how ``faces: align`` sources are cut into face crops (the run's ``faces:`` block).

    Returns:
        The manifest (``split`` empty), the quarantine table and a JSON-serialisable report with
        the DVC md5, per-source fingerprints, the content ``data_hash``, the counts and, under
        ``sources``, each source reader's report (per-folder roles, target mismatches, files not
        listed in a ``metadata.csv``, tolerated mask colours, ...).
    """
    root = settings.root_path(base)
    sources = settings.segmentation_sources if kind == "segmentation" else settings.detection_sources
    dvc_md5 = _ensure_tracked_data(settings, root)
    result = build_manifest(
        sources,
        root=root,
        split_ratios=None,
        cache_dir=settings.resolve(settings.cache_dir, base),
        max_image_pixels=settings.max_image_pixels,
        max_file_bytes=settings.max_file_bytes,
        faces=faces,
    )
    covered = dvc_md5 is not None and sources_under_dvc(settings, root, sources)
    report = {
        "kind": kind,
        "data_dvc_md5": dvc_md5,
        "dvc_covers_sources": covered,
        "data_identity": f"dvc:{dvc_md5}" if covered else f"content:{result.report['data_fingerprint']}",
        "data_hash": result.report["data_fingerprint"],
        "fingerprints": result.report["fingerprints"],
        "counts": {k: v for k, v in result.report["counts"].items() if k != "by_stratum"},
        "duplicates": result.report["duplicates"],
        "label_conflicts": result.report["label_conflicts"],
        "quarantine_by_check": result.report["quarantine_by_check"],
        "quarantine": result.quarantine.head(QUARANTINE_REPORT_ROWS).to_dict(orient="records"),
        "hashing": result.report["hashing"],
        "generators": sorted(result.manifest["generator"].dropna().unique().tolist()),
        "sources": result.report["sources"],
        # the face geometry of crops cut by ingestion (None: every source was used as it is)
        "faces": result.report.get("faces"),
    }
    if result.manifest.empty:
        raise ValueError(
            f"no usable {kind} images in the configured sources ({', '.join(s.name for s in sources)}); "
            f"quarantined: {report['quarantine_by_check']}"
        )
    return result.manifest, result.quarantine, report


def _ensure_tracked_data(settings: DataSettings, root: Path) -> str | None:
    """Make the DVC-tracked data present and verified; its md5, or ``None`` without a pointer."""
    dvc_file = root / settings.dvc_file
    if not dvc_file.is_file():
        return None
    status = ensure_data(root, data_dir=Path(settings.dvc_file).stem)
    md5 = status.md5 or read_dvc_md5(dvc_file)
    logger.info("data %s: %s (md5 %s)", status.data_dir, status.action, md5)
    return md5


def sources_under_dvc(settings: DataSettings, root: Path, sources: Sequence[SourceConfig]) -> bool:
    """Whether every source folder lies inside the folder the DVC pointer tracks."""
    tracked = Path(os.path.normpath(root / Path(settings.dvc_file).stem))
    return all(source.resolve_path(root).is_relative_to(tracked) for source in sources)


def run_data_identity(*identities: str) -> str:
    """One identity for the data of a run from its manifests' identities (``ingest`` reports).

    The same DVC version for all gives ``dvc:<md5>``; anything else a hash of them all.
    """
    unique = sorted(set(identities))
    if len(unique) == 1 and unique[0].startswith("dvc:"):
        return unique[0]
    return "combined:" + hashlib.sha256("\n".join(sorted(identities)).encode()).hexdigest()


def current_data_identity(settings: DataSettings, *, base: str | Path) -> str:
    """The data identity a run with ``settings`` would record, computed as cheaply as possible.

    With every source under DVC this is the verified pointer md5 (no file is read by us);
    otherwise both manifests are ingested (unchanged files are not hashed again).
    """
    root = settings.root_path(base)
    every_source = [*settings.segmentation_sources, *settings.detection_sources]
    md5 = _ensure_tracked_data(settings, root)
    if md5 is not None and sources_under_dvc(settings, root, every_source):
        return f"dvc:{md5}"
    kinds: tuple[Kind, Kind] = ("segmentation", "detection")
    return run_data_identity(*(ingest(settings, kind, base=base)[2]["data_identity"] for kind in kinds))


def split(
    manifest: pd.DataFrame, ratios: tuple[float, float, float], seed: int
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Assign train/val/test: seeded, stable, leakage-free (see ``facetransfer.ingestion.splitting``).

    Identical files (same sha256) and images of one identity always share a split.

    Args:
        manifest: an unsplit manifest.
        ratios: train, validation and test shares (``data.split_ratios``).
        seed: split seed (``data.split_seed``).
    """
    checked = validate_ratios(ratios)
    frame = manifest.assign(split=assign_splits(manifest, ratios=checked, seed=seed))
    report = {
        "ratios": list(checked),
        "seed": seed,
        "by_split": {str(k): int(v) for k, v in frame["split"].value_counts().sort_index().items()},
        "by_stratum": split_counts_by_stratum(frame),
    }
    return frame, report


def manifest_fingerprint(manifest: pd.DataFrame) -> str:
    """Content hash of a manifest (the same as its ingestion report's ``data_hash``)."""
    return data_fingerprint(source_fingerprints(manifest))


def ingest_and_log(
    settings: DataSettings,
    kind: Kind,
    *,
    base: str | Path,
    detector_model: str | None = None,
    faces: FaceSettings | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``ingest`` plus what a pipeline run records of it, in the active MLflow run.

    Logged: ``data/<kind>_quarantine`` (every file set aside, with its reason),
    ``data/<kind>_sources.json`` (each reader's report: target mismatches, unlisted files, ...)
    and ``data/<kind>_ingest_report.json``. For detection data with ``detector_model``, the
    report also lists the generators the current champion was never trained on
    (``new_generators``), also set as the run's tags ``data.generators`` / ``data.new_generators``.

    Returns:
        The unsplit manifest and the report (without the per-source reports, logged apart).

    Raises:
        RegistryUnavailableError: the registry cannot be reached to find the champion.
    """
    import mlflow

    from facetransfer.registry.client import champion_version, new_generators
    from facetransfer.tracking.runs import log_json, log_table

    manifest, quarantine, report = ingest(settings, kind, base=base, faces=faces)
    # per faces: align source, pictures with and without a face crop (validated by GX downstream)
    report["face_presence"] = face_presence_table(manifest, quarantine).to_dict(orient="records")
    if detector_model is not None:
        champion = champion_version(detector_model)
        report["new_generators"] = new_generators(manifest, champion)
        report["champion_version"] = None if champion is None else str(champion.version)
        if champion is not None and report["new_generators"]:
            logger.info("new generators since champion v%s: %s", champion.version, report["new_generators"])
        mlflow.set_tags(
            {
                "data.generators": ",".join(report["generators"]),
                "data.new_generators": ",".join(report["new_generators"]) or "none",
            }
        )
    log_table(quarantine, f"data/{kind}_quarantine")
    log_json(report.pop("sources"), f"data/{kind}_sources.json")
    log_json(report, f"data/{kind}_ingest_report.json")
    report["quarantined"] = len(quarantine)
    return manifest, report


def trained_generators(manifest: pd.DataFrame) -> list[str]:
    """Generators of the train split (what a detector trained on ``manifest`` has seen)."""
    return sorted(manifest.loc[manifest["split"] == "train", "generator"].dropna().unique().tolist())
