"""How an image file becomes a detector input: one definition for training, evaluation and serving.

Two input modes (``input_mode``):

* ``resize`` (the paper's): the whole image is resized to ``image_size`` x ``image_size`` (area
  interpolation when shrinking, bilinear when enlarging).
* ``crop`` (CNNDetection's): the image is optionally resized first so its shorter side is
  ``load_size`` (aspect kept), then an ``image_size`` square is cut out of it: a random one in
  training, the centre one in evaluation, the champion check and ``predict``. Resizing a 1024 px
  face to 64 px erases the up-sampling traces a generator leaves at the pixel level; a crop keeps
  them at their native scale. An image whose shorter side is below ``image_size`` is enlarged to
  it (bilinear) so that a crop always exists.

Reading is split in two stages so the expensive one can be cached: ``load`` decodes the file and
produces the *stage-one* array (resize mode: the final ``image_size`` image; crop mode: the image
at load size), which depends on the file content and this object only; ``finish`` takes the crop
and is cheap. ``cache_key`` names stage one for on-disk caches.

The settings travel with every registered model (``to_dict``/``from_dict``), so a model is always
fed the way it was trained, whoever calls it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any, Literal

import numpy as np
import torch

from facetransfer.imaging.checks import DEFAULT_MAX_IMAGE_PIXELS
from facetransfer.imaging.decoding import DECODER_VERSION, ImageSource, decode_rgb
from facetransfer.imaging.resizing import resize_image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

NORMALIZATION: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    # torchvision's ImageNet weights of both backbones use the same statistics.
    "resnet50": (IMAGENET_MEAN, IMAGENET_STD),
    "mobilenet_v3_large": (IMAGENET_MEAN, IMAGENET_STD),
}
"""``(mean, std)`` of RGB values in [0, 1] per backbone."""

InputMode = Literal["resize", "crop"]
INPUT_MODES: tuple[str, ...] = ("resize", "crop")

Perturbation = Callable[[np.ndarray], np.ndarray]
"""A function of a full-resolution uint8 RGB image (e.g. JPEG re-compression) applied before preprocessing."""


@dataclass(frozen=True)
class Preprocessing:
    """Input settings of a model.

    Attributes:
        image_size: side of the square the model sees (a multiple of 32).
        input_mode: ``resize`` or ``crop`` (see the module docstring).
        load_size: ``crop`` only: shorter side the image is resized to before cropping;
            ``None`` crops from the image at its own resolution.
        mean: per-channel mean of RGB values in [0, 1] subtracted before the model.
        std: per-channel standard deviation the values are divided by.
    """

    image_size: int
    input_mode: str = "resize"
    load_size: int | None = None
    mean: tuple[float, float, float] = NORMALIZATION["resnet50"][0]
    std: tuple[float, float, float] = NORMALIZATION["resnet50"][1]

    def __post_init__(self) -> None:
        if self.image_size < 32 or self.image_size % 32:
            raise ValueError(f"image_size must be a positive multiple of 32, got {self.image_size}")
        if self.input_mode not in INPUT_MODES:
            raise ValueError(f"input_mode must be one of {', '.join(INPUT_MODES)}, got {self.input_mode!r}")
        if self.load_size is not None:
            if self.input_mode != "crop":
                raise ValueError("load_size applies to input_mode 'crop' only")
            if self.load_size < self.image_size:
                raise ValueError(
                    f"load_size {self.load_size} is smaller than the crop image_size {self.image_size}"
                )
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))

    @classmethod
    def for_backbone(
        cls, backbone: str, image_size: int, input_mode: str = "resize", load_size: int | None = None
    ) -> Preprocessing:
        """Settings with the normalisation statistics of ``backbone``'s ImageNet weights.

        Raises:
            ValueError: unknown backbone, or invalid sizes/mode.
        """
        try:
            mean, std = NORMALIZATION[backbone]
        except KeyError:
            raise ValueError(
                f"no normalisation for backbone {backbone!r}; valid: {', '.join(NORMALIZATION)}"
            ) from None
        return cls(image_size, input_mode, load_size, mean, std)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (stored with registered models)."""
        return {**asdict(self), "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Preprocessing:
        """Inverse of ``to_dict``; unknown keys are an error (a newer format must not be misread)."""
        unknown = set(values) - {"image_size", "input_mode", "load_size", "mean", "std"}
        if unknown:
            raise ValueError(f"unknown preprocessing settings {sorted(unknown)}")
        converted: dict[str, Any] = {k: tuple(v) if k in ("mean", "std") else v for k, v in values.items()}
        return cls(**converted)

    @property
    def cache_key(self) -> str:
        """Identifies stage one (decoder version, mode and sizes; normalisation is applied later)."""
        return f"{DECODER_VERSION}|{self.input_mode}|{self.image_size}|{self.load_size}"

    @property
    def draft_size(self) -> int | None:
        """Smallest side stage one needs from the decoder (JPEG draft mode), ``None`` for full size."""
        return self.image_size if self.input_mode == "resize" else self.load_size

    def load(self, source: ImageSource, *, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> np.ndarray:
        """Decode a file into its stage-one uint8 RGB array."""
        return self.stage_one(decode_rgb(source, draft_size=self.draft_size, max_pixels=max_pixels))

    def stage_one(self, image: np.ndarray) -> np.ndarray:
        """Stage one of a decoded ``(H, W, 3)`` uint8 image (e.g. a perturbed full-resolution copy)."""
        if self.input_mode == "resize":
            return resize_image(image, self.image_size)
        height, width = image.shape[:2]
        target = self.load_size if self.load_size is not None else min(height, width)
        target = max(target, self.image_size)
        if min(height, width) != target:
            scale = target / min(height, width)
            size = (max(target, round(width * scale)), max(target, round(height * scale)))
            image = resize_image(image, size)
        return image

    def finish(self, stage_one: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """The ``image_size`` square: a random crop when ``rng`` is given (training), else the centre."""
        size = self.image_size
        height, width = stage_one.shape[:2]
        if (height, width) == (size, size):
            return np.ascontiguousarray(stage_one)
        if rng is None:
            top, left = (height - size) // 2, (width - size) // 2
        else:
            top, left = int(rng.integers(0, height - size + 1)), int(rng.integers(0, width - size + 1))
        return np.ascontiguousarray(stage_one[top : top + size, left : left + size])

    def normalize(self, image: np.ndarray) -> np.ndarray:
        """``(H, W, 3)`` uint8 RGB -> ``(3, H, W)`` float32, normalised with ``mean``/``std``.

        One cast into a new ``(3, H, W)`` array, then torch's in-place kernels: the same float32
        subtraction and division as numpy's (bit for bit), in a fifth of numpy's time at 256 px
        (no temporaries; ``image`` may be read-only, e.g. a memory-mapped cache file).
        """
        mean, std = self._normalization_tensors
        channels = np.empty((3, *image.shape[:2]), dtype=np.float32)
        np.copyto(channels, image.transpose(2, 0, 1), casting="unsafe")
        return torch.from_numpy(channels).sub_(mean).div_(std).numpy()

    @cached_property
    def _normalization_tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(3, 1, 1)`` float32 mean and std on the 0..255 scale (built once, on first use)."""
        mean = torch.tensor(self.mean, dtype=torch.float32).mul_(255.0)[:, None, None]
        std = torch.tensor(self.std, dtype=torch.float32).mul_(255.0)[:, None, None]
        return mean, std

    def __call__(self, source: ImageSource, *, perturbation: Perturbation | None = None) -> np.ndarray:
        """Evaluation input of a file: decode (perturbed if asked), centre crop, normalise."""
        if perturbation is None:
            stage = self.load(source)
        else:
            stage = self.stage_one(perturbation(decode_rgb(source)))
        return self.normalize(self.finish(stage))
