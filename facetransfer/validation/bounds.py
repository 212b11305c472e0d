"""Configured limits the data must satisfy (one pydantic model, built from the pipeline config)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from facetransfer.imaging.decoding import CONVERTIBLE_MODES

_DEFAULT_CLASS_SHARES: dict[str, tuple[float, float]] = {
    "background": (0.05, 0.95),
    "face": (0.05, 0.8),
    "hair": (0.0, 0.6),
    **{
        name: (0.0, 0.3)
        for name in (
            "left_eye", "right_eye", "eyes", "nose", "left_ear", "right_ear", "ears", "lips",
            "left_eyebrow", "right_eyebrow", "eyebrows", "teeth", "glasses", "beard",
        )
    },
}  # fmt: skip


class ValidationBounds(BaseModel):
    """Bounds of the data validation suites.

    Attributes:
        min_width, max_width, min_height, max_height: accepted image sizes in pixels.
        allowed_modes: accepted Pillow modes of the files (the manifest records each file's own
            mode); by default every mode the decoding policy converts faithfully to RGB
            (``facetransfer.imaging.decoding.CONVERTIBLE_MODES``).
        min_real_to_fake, max_real_to_fake: accepted ratio of real to generated images.
        min_images_per_generator: every generator needs at least this many images.
        min_images_per_source: every source (real or generated) needs at least this many images.
        min_face_share: share of masks that must contain the face class.
        max_no_face_share: per ``faces: align`` source, the largest share of its pictures that may
            yield no face crop (quarantined ``no_face`` or ``face_too_small``); more means the
            source is not what it claims to be, or the ``faces:`` settings do not suit it.
        class_share_bounds: per class name, bounds of its mean pixel share over all masks
            (classes absent from the mapping, or from the scheme, are not checked).
        quarantine_instead_of_fail: remove the rows that fail row-level expectations into a
            quarantine table and validate the rest, instead of failing.
        example_rows: failing rows shown per expectation in messages and reports.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_width: int = Field(default=32, ge=1)
    max_width: int = Field(default=4096, ge=1)
    min_height: int = Field(default=32, ge=1)
    max_height: int = Field(default=4096, ge=1)
    allowed_modes: tuple[str, ...] = CONVERTIBLE_MODES
    min_real_to_fake: float = Field(default=0.25, gt=0)
    max_real_to_fake: float = Field(default=4.0, gt=0)
    min_images_per_generator: int = Field(default=20, ge=0)
    min_images_per_source: int = Field(default=20, ge=0)
    min_face_share: float = Field(default=0.95, ge=0, le=1)
    max_no_face_share: float = Field(default=0.5, ge=0, le=1)
    class_share_bounds: dict[str, tuple[float, float]] = Field(
        default_factory=lambda: dict(_DEFAULT_CLASS_SHARES)
    )
    quarantine_instead_of_fail: bool = False
    example_rows: int = Field(default=5, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> ValidationBounds:
        pairs = {
            "width": (self.min_width, self.max_width),
            "height": (self.min_height, self.max_height),
            "real_to_fake": (self.min_real_to_fake, self.max_real_to_fake),
            **{f"class_share_bounds.{name}": bounds for name, bounds in self.class_share_bounds.items()},
        }
        for name, (low, high) in pairs.items():
            if low > high:
                raise ValueError(f"{name}: lower bound {low} exceeds upper bound {high}")
        return self
