"""Declaration of data sources: which folder, in which distributed format, playing which role.

A pipeline configuration lists its sources as plain mappings, e.g.::

    sources:
      - {name: mut1ny, format: mut1ny, path: data/segmentation, scheme: mut1ny14}
      - {name: artifact, format: artifact, path: data/detection, real: [ffhq, celebahq]}
      - {name: photos, format: folder, path: /datasets/photos, faces: align}

Options that belong to another format are rejected, so a typo or a misplaced option fails at
load time instead of being ignored.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SourceFormat = Literal["mut1ny", "celebamask_hq", "artifact", "ffhq", "folder"]
SourceRole = Literal["real", "fake", "segmentation", "auto"]
SourceFaces = Literal["as_is", "align"]
"""``as_is``: the images are face crops already and are used as they are; ``align``: each image is
a whole picture, cut into aligned face crops (``facetransfer.ingestion.face_crops``)."""

ARTIFACT_REAL_SOURCES = ("afhq", "celebahq", "coco", "ffhq", "imagenet", "landscape", "lsun", "metfaces")
"""Sub-folders of the distributed ArtiFact dataset that hold real images; every other one is a generator."""

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp")

SEGMENTATION_FOLDER = "segmentation"
"""Sub-folder of the data folder (``data/``) holding the Mut1ny-format tree."""
DETECTION_FOLDER = "detection"
"""Sub-folder of ``data/`` holding the ArtiFact root (one folder per real source or generator)."""

_FORMAT_OPTIONS: dict[str, frozenset[str]] = {
    "mut1ny": frozenset({"scheme", "index_file", "unknown_color_tolerance"}),
    "celebamask_hq": frozenset({"scheme"}),
    "artifact": frozenset({"real", "faces"}),
    "ffhq": frozenset({"ffhq_folder", "faces"}),
    "folder": frozenset({"faces"}),
}
_ALLOWED_ROLES: dict[str, frozenset[str]] = {
    "mut1ny": frozenset({"segmentation", "auto"}),
    "celebamask_hq": frozenset({"segmentation", "auto"}),
    "artifact": frozenset({"real", "fake", "auto"}),
    "ffhq": frozenset({"real", "auto"}),
    "folder": frozenset({"real", "fake", "auto"}),
}
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class SourceConfig(BaseModel):
    """One data source.

    Attributes:
        name: unique name; the manifest's ``dataset`` column and, for single-folder sources, its
            ``source`` column (and ``generator`` for generated images).
        format: the distributed layout the folder has (DESIGN §4).
        path: the source folder; relative paths are resolved against the ``root`` given to the reader.
        role: ``segmentation`` for face-parsing sources; ``real``/``fake`` to fix the label of every
            image; ``auto`` to take it from the layout (``real/`` and ``fake/`` of a plain folder,
            ``real`` list of an ArtiFact root).
        scheme: class scheme of the masks (``mut1ny``: the colour palette to decode;
            ``celebamask_hq``: the scheme the per-part masks are merged into).
        index_file: ``mut1ny``: the XML listing image/label pairs.
        unknown_color_tolerance: ``mut1ny``: a mask with more pixels of colours outside the palette
            than this is quarantined (fewer are kept, reported and decoded as ``UNKNOWN_CLASS``).
        real: ``artifact``: names of the sub-folders holding real images; every other sub-folder of
            an ArtiFact root is a generator, so a newly added generator folder needs no config change.
        ffhq_folder: ``ffhq``: ``images1024x1024`` or ``thumbnails128x128``.
        faces: detection sources (``artifact``, ``ffhq``, ``folder``): ``as_is`` (default) for
            images that are face crops already; ``align`` to cut every image into aligned face
            crops with the run's ``faces:`` settings (one manifest row per face; pictures without
            a usable face are quarantined ``no_face`` / ``face_too_small``).
        identity_pattern: optional regular expression searched in each image's path relative to
            the source folder; its ``identity`` group (or first group) names the person, so that
            splits never put one identity in two splits.
        identity_namespace: identities are compared within a namespace, by default the row's
            ``source``; sources that share people (e.g. a real set and a generator fine-tuned on
            it) can share one.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    format: SourceFormat
    path: str
    role: SourceRole = "auto"
    scheme: Literal["mut1ny14", "mut1ny11"] = "mut1ny14"
    index_file: str = "training.xml"
    unknown_color_tolerance: int = Field(default=0, ge=0)
    real: tuple[str, ...] = ARTIFACT_REAL_SOURCES
    ffhq_folder: Literal["images1024x1024", "thumbnails128x128"] = "images1024x1024"
    faces: SourceFaces = "as_is"
    identity_pattern: str | None = None
    identity_namespace: str | None = None

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _NAME_PATTERN.match(value):
            raise ValueError(f"source name {value!r} must be letters, digits, '_', '-' or '.'")
        return value

    @field_validator("identity_pattern")
    @classmethod
    def _check_pattern(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as error:
                raise ValueError(f"identity_pattern {value!r} is not a regular expression: {error}") from None
        return value

    @model_validator(mode="after")
    def _check_format_options(self) -> SourceConfig:
        # An option counts as set when its value differs from the default: a config that was
        # dumped with every field (as ZenML does with step parameters) must validate again.
        changed = {
            name
            for name in self.model_fields_set
            if getattr(self, name) != type(self).model_fields[name].get_default(call_default_factory=True)
        }
        foreign: set[str] = set()
        for fmt, options in _FORMAT_OPTIONS.items():
            if fmt != self.format:
                foreign |= (options - _FORMAT_OPTIONS[self.format]) & changed
        if foreign:
            raise ValueError(
                f"source {self.name!r} (format {self.format}) sets option(s) {sorted(foreign)} "
                f"that only apply to other formats"
            )
        if self.role not in _ALLOWED_ROLES[self.format]:
            raise ValueError(
                f"source {self.name!r}: role {self.role!r} is not valid for format {self.format}; "
                f"valid: {sorted(_ALLOWED_ROLES[self.format])}"
            )
        return self

    @property
    def is_segmentation(self) -> bool:
        """Whether the source provides masks (Mut1ny, CelebAMask-HQ)."""
        return self.format in ("mut1ny", "celebamask_hq")

    def resolve_path(self, root: str | Path) -> Path:
        """Absolute, normalised path of the source folder: ``path`` if absolute, else ``root / path``."""
        path = Path(self.path).expanduser()
        return Path(os.path.normpath((path if path.is_absolute() else Path(root) / path).absolute()))


def parse_sources(entries: Sequence[SourceConfig | dict]) -> list[SourceConfig]:
    """Validate a list of source declarations (mappings from YAML or ready ``SourceConfig`` objects).

    Raises:
        pydantic.ValidationError: an entry has a bad option or value.
        facetransfer.ingestion.errors.SourceConfigError: two entries share a name.
    """
    from facetransfer.ingestion.errors import SourceConfigError

    configs = [
        entry if isinstance(entry, SourceConfig) else SourceConfig.model_validate(entry) for entry in entries
    ]
    seen: set[str] = set()
    for config in configs:
        if config.name in seen:
            raise SourceConfigError(f"two sources are named {config.name!r}; source names must be unique")
        seen.add(config.name)
    return configs
