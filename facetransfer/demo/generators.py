"""Simulated generator families: the traces GAN up-samplers leave in the images they produce.

After the AutoGAN simulator of Zhang, Karaman and Chang (2019, "Detecting and simulating
artifacts in GAN fake images"): a GAN's last layers up-sample a low-resolution representation,
and the up-sampler leaves periodic traces, peaks of the spectrum at the up-sampling frequencies.
Each family has one up-sampler ``G`` with fixed random weights (drawn once per family and seed):

==================  =====================================================================
``tconv``           transposed convolution (kernel 4, stride 2): per-phase 2×2 kernels,
                    a checkerboard also in flat regions
``nearest_conv``    nearest-neighbour ×2 then a 3×3 convolution: 2×2 blockiness at edges
``bilinear_conv``   bilinear ×2 then a 3×3 convolution: the weakest, smooth traces
``pixel_shuffle``   3×3 convolution to 4 sub-pixel phases then pixel shuffle: a checkerboard
                    with another spectrum (the held-out "new generator" of the demo)
==================  =====================================================================

Every ``G`` is a perturbation of exact bilinear up-sampling, so ``G(d) - bilinear(d)`` holds the
family's artefact and no blur. A generated image of a rendered face ``x`` (``d``: ``x``
down-sampled 2×) is::

    x + (G(d) - bilinear(d))        the up-sampling artefact on the face's content
      + G(n_low)                    noise synthesised through G (a camera adds white noise n
                                    at full resolution; a generator only has its up-sampler)
      + fingerprint                 the family's fixed periodic pattern (see ``fingerprint``)

while a real picture of the same face is ``x + n``. The face keeps its full detail, so
sharpness gives nothing away; ``strength`` scales all three terms (0 gives the real picture).
At strength 1 the differences are a few grey levels, hard to see, and a small CNN separates
real from generated at 64 px after a few epochs. All arithmetic follows the deterministic
rules of ``facetransfer.demo.raster``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from facetransfer.demo.raster import bilinear_upsample, box_downsample, convolve, nearest_upsample


@dataclass(frozen=True)
class GeneratorFamily:
    """A simulated generator family.

    Attributes:
        name: folder/generator name.
        description: what the up-sampler is.
        residual: ``(low, weights_rng, scale) -> G(low) - bilinear(low)`` at twice the size.
        tile: side of the low-resolution tile of the fingerprint (period ``2 * tile`` pixels).
    """

    name: str
    description: str
    residual: Callable[[np.ndarray, np.random.Generator, float], np.ndarray]
    tile: int


def _random_weights(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.random(shape) * 2.0 - 1.0


def _exact_mean(values: np.ndarray) -> float:
    total = 0.0
    for value in values.ravel().tolist():  # fixed order: no SIMD-dependent reduction
        total += value
    return total / values.size


def _phase_kernels(rng: np.random.Generator, taps_per_phase: int) -> np.ndarray:
    """Random per-phase 3×3 kernels ``(2, 2, 3, 3, 3, 3)`` whose average over the four phases is zero.

    With a zero phase average a flat region gets no overall brightness or colour change, only
    the alternating (checkerboard) part that makes the artefact periodic.
    """
    kernels = np.zeros((2, 2, 3, 3, 3, 3))
    for phase_y in (0, 1):
        for phase_x in (0, 1):
            rows: tuple[int, ...] = (0, 1, 2)
            cols: tuple[int, ...] = (0, 1, 2)
            if taps_per_phase == 2:  # transposed conv k=4, s=2: a 2×2 footprint per phase
                rows = (0, 1) if phase_y == 0 else (1, 2)
                cols = (0, 1) if phase_x == 0 else (1, 2)
            for row in rows:
                for col in cols:
                    kernels[phase_y, phase_x, row, col] = _random_weights(rng, (3, 3))
    for tap_y in range(3):
        for tap_x in range(3):
            for c_in in range(3):
                for c_out in range(3):
                    phases = kernels[:, :, tap_y, tap_x, c_in, c_out]
                    phases -= _exact_mean(phases)
    return kernels


def _phase_residual(low: np.ndarray, kernels: np.ndarray) -> np.ndarray:
    """Apply a different 3×3 kernel (with channel mixing) to ``low`` for each of the 4 output phases."""
    height, width = low.shape[:2]
    output = np.empty((height * 2, width * 2, 3), dtype=np.float64)
    for phase_y in (0, 1):
        for phase_x in (0, 1):
            output[phase_y::2, phase_x::2] = convolve(low, kernels[phase_y, phase_x])
    return output


def _high_pass_kernel(rng: np.random.Generator, colour_mixing: float) -> np.ndarray:
    """Random 3×3 kernel ``(3, 3, 3, 3)`` with zero sum per channel pair (no brightness change).

    Each channel is filtered by one shared spatial kernel; ``colour_mixing`` scales the extra
    cross-channel terms, whose coloured fringes are what makes an artefact visible to the eye.
    """
    shared = _random_weights(rng, (3, 3))
    shared -= _exact_mean(shared)
    kernel = colour_mixing * _random_weights(rng, (3, 3, 3, 3))
    for c_in in range(3):
        for c_out in range(3):
            block = kernel[:, :, c_in, c_out]
            block -= _exact_mean(block)
        kernel[:, :, c_in, c_in] += shared
    return kernel


def _tconv(low: np.ndarray, rng: np.random.Generator, scale: float) -> np.ndarray:
    return _phase_residual(low, 0.012 * scale * _phase_kernels(rng, taps_per_phase=2))


def _pixel_shuffle(low: np.ndarray, rng: np.random.Generator, scale: float) -> np.ndarray:
    return _phase_residual(low, 0.008 * scale * _phase_kernels(rng, taps_per_phase=3))


def _nearest_conv(low: np.ndarray, rng: np.random.Generator, scale: float) -> np.ndarray:
    # An identity-initialised conv after nearest up-sampling keeps part of the 2×2 blocks:
    # nearest - bilinear is the blockiness, the random high-pass kernel its family signature.
    nearest = nearest_upsample(low)
    blocks = nearest - bilinear_upsample(low)
    return scale * (0.3 * blocks + convolve(nearest, 0.05 * _high_pass_kernel(rng, colour_mixing=0.2)))


def _bilinear_conv(low: np.ndarray, rng: np.random.Generator, scale: float) -> np.ndarray:
    # The weakest family: a high-pass conv turns the piecewise-constant curvature of bilinear
    # up-sampling into faint period-2 traces.
    return convolve(bilinear_upsample(low), 0.12 * scale * _high_pass_kernel(rng, colour_mixing=0.2))


GENERATOR_FAMILIES: dict[str, GeneratorFamily] = {
    family.name: family
    for family in (
        GeneratorFamily("tconv", "transposed convolution, kernel 4, stride 2", _tconv, tile=1),
        GeneratorFamily("nearest_conv", "nearest-neighbour ×2 then 3×3 convolution", _nearest_conv, tile=2),
        GeneratorFamily("bilinear_conv", "bilinear ×2 then 3×3 convolution", _bilinear_conv, tile=2),
        GeneratorFamily(
            "pixel_shuffle", "3×3 convolution to 4 phases, pixel shuffle", _pixel_shuffle, tile=1
        ),
    )
}
DEFAULT_GENERATORS = ("tconv", "nearest_conv", "bilinear_conv")
FINGERPRINT_LEVEL = 1.5
"""Mean absolute value (grey levels, at strength 1) of a family's fixed periodic pattern."""


def get_family(name: str) -> GeneratorFamily:
    """The generator family called ``name``; ``ValueError`` lists the known ones."""
    try:
        return GENERATOR_FAMILIES[name]
    except KeyError:
        raise ValueError(
            f"unknown generator family {name!r}; known: {', '.join(GENERATOR_FAMILIES)}"
        ) from None


def family_weights_rng(name: str, seed: int) -> np.random.Generator:
    """Random source of a family's fixed weights (the same for every image of the family and seed)."""
    digest = hashlib.sha256(f"generator-weights:{name}:{seed}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "big"))


class SimulatedGenerator:
    """A generator family with its weights fixed, applied to rendered faces (see the module docstring).

    Args:
        name: family name (see ``GENERATOR_FAMILIES``).
        seed: fixes the family's random weights.
        strength: scales the artefact and the fingerprint, and sets the share of synthesised
            noise (clipped to 1); 0 gives the real picture back.
    """

    def __init__(self, name: str, *, seed: int, strength: float = 1.0) -> None:
        self.family = get_family(name)
        self.seed = seed
        self.strength = strength
        self._fingerprints: dict[tuple[int, int], np.ndarray] = {}

    def residual(self, low: np.ndarray) -> np.ndarray:
        """``G(low) - bilinear(low)`` at twice the size of the float ``(h, w, 3)`` input."""
        # Fresh generator per call: the weights belong to the family and seed, not to an image.
        return self.family.residual(low, family_weights_rng(self.family.name, self.seed), self.strength)

    def upsample(self, low: np.ndarray) -> np.ndarray:
        """The family's ×2 up-sampler ``G``."""
        return bilinear_upsample(low) + self.residual(low)

    def generate(self, face: np.ndarray, camera_noise: np.ndarray, low_noise: np.ndarray) -> np.ndarray:
        """The generated counterpart of a rendered face (float, not clipped).

        Args:
            face: float ``(H, W, 3)`` rendered face, even ``H`` and ``W``.
            camera_noise: the full-resolution noise a real picture of the face would get.
            low_noise: noise at half resolution, up-sampled by ``G`` into the generated image.
        """
        if face.shape[0] % 2 or face.shape[1] % 2:
            raise ValueError(f"generator input must have even height and width, got {face.shape[:2]}")
        share = min(1.0, self.strength)
        noise = camera_noise * (1.0 - share) + self.upsample(low_noise) * share
        return face + self.residual(box_downsample(face)) + noise + self.fingerprint(face.shape[:2])

    def fingerprint(self, shape: tuple[int, ...]) -> np.ndarray:
        """The family's fixed, image-independent periodic pattern for an image of ``shape``.

        Every generated image carries it: generators leave a fixed fingerprint (Marra et al.
        2019), concentrated at the up-sampling frequencies (Zhang et al. 2019). It is a fixed,
        zero-mean low-resolution tile repeated over the image and passed through the family's
        up-sampler: a 1×1 tile gives the period-2 checkerboard of the phase-dependent families,
        a 2×2 tile the period-4 pattern that a second up-sampling stage leaves in the others.
        """
        key = (int(shape[0]), int(shape[1]))
        if key not in self._fingerprints:
            rng = family_weights_rng(f"{self.family.name}:fingerprint", self.seed)
            tile = rng.integers(-4, 5, size=(self.family.tile, self.family.tile, 3)).astype(np.float64)
            if self.family.tile == 1:
                tile = (
                    np.abs(tile) + 1.0
                )  # a constant field: only a phase-dependent up-sampler makes a pattern
            else:
                for channel in range(3):
                    tile[..., channel] -= _exact_mean(tile[..., channel])
            repeats = (-(-key[0] // (2 * self.family.tile)), -(-key[1] // (2 * self.family.tile)), 1)
            field = np.tile(tile, repeats)[: key[0] // 2, : key[1] // 2]
            pattern = self.residual(field) if self.family.tile == 1 else self.upsample(field)
            size = _exact_mean(np.abs(pattern))
            self._fingerprints[key] = (
                pattern * (FINGERPRINT_LEVEL * self.strength / size) if size else pattern
            )
        return self._fingerprints[key]
