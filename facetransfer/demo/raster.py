"""Deterministic raster primitives for the demo-data generator.

Byte-identical output on every x86 machine rules out anything whose last bit depends on the CPU
or the BLAS build. The demo code therefore keeps to these operations:

* elementwise ``+ - * /``, ``sqrt``, comparisons, ``clip``, ``floor``, ``rint`` (IEEE-754 rounds
  these exactly, with or without SIMD);
* integer arithmetic and random integers / ``Generator.random`` (exact from PCG64 bits);
* convolutions written as explicit sums of shifted arrays in a fixed order.

And avoids: ``exp``/``log``/``sin``/``cos``/``power`` on arrays (SIMD implementations differ in
the last bit), float reductions (``sum``/``mean``: pairwise order may vary), ``matmul``/``dot``/
``einsum`` (BLAS), and ``Generator.normal`` (uses ``log``/``exp`` in its tails). Rotations use a
rational parametrisation instead of trigonometric functions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Grid:
    """Pixel-centre coordinates of a square image, in [-1, 1] (x to the right, y downwards)."""

    x: np.ndarray
    y: np.ndarray
    size: int

    @classmethod
    def square(cls, size: int) -> Grid:
        """Grid of a ``size``×``size`` image."""
        centres = (np.arange(size, dtype=np.float64) + 0.5) * (2.0 / size) - 1.0
        y, x = np.meshgrid(centres, centres, indexing="ij")
        return cls(x=x, y=y, size=size)


def rational_rotation(t: float) -> tuple[float, float]:
    """``(cos θ, sin θ)`` of the angle θ = 2·atan(t), computed without trigonometry."""
    denominator = 1.0 + t * t
    return (1.0 - t * t) / denominator, (2.0 * t) / denominator


def ellipse_field(u: np.ndarray, v: np.ndarray, cu: float, cv: float, au: float, av: float) -> np.ndarray:
    """``((u-cu)/au)² + ((v-cv)/av)²``: below 1 inside the ellipse."""
    du = (u - cu) / au
    dv = (v - cv) / av
    return du * du + dv * dv


def coverage(field: np.ndarray, semi_axis: float, pixel: float) -> np.ndarray:
    """Anti-aliased coverage in [0, 1] of ``field < 1`` for a shape of the given minor semi-axis.

    Near the boundary the field changes by about ``2·pixel/semi_axis`` per pixel, so this ramps
    over one pixel and equals 0.5 exactly on the boundary (where the hard mask switches).
    """
    return np.clip(0.5 + (1.0 - field) * (semi_axis / (2.0 * pixel)), 0.0, 1.0)


def value_noise(
    rng: np.random.Generator, grid: Grid, cells: int, stretch: tuple[float, float] = (1.0, 1.0)
) -> np.ndarray:
    """Smooth noise in [-1, 1]: random values on a ``cells``×``cells`` lattice, bilinearly interpolated.

    Args:
        rng: random source.
        grid: where to evaluate.
        cells: lattice resolution across the image (larger is finer).
        stretch: horizontal/vertical lattice scale factors (e.g. ``(1, 0.3)`` for vertical strands).
    """
    cells_x = max(1, round(cells * stretch[0]))
    cells_y = max(1, round(cells * stretch[1]))
    lattice = rng.random((cells_y + 2, cells_x + 2)) * 2.0 - 1.0
    fx = (grid.x + 1.0) * 0.5 * cells_x
    fy = (grid.y + 1.0) * 0.5 * cells_y
    ix = np.floor(fx).astype(np.int64)
    iy = np.floor(fy).astype(np.int64)
    tx = fx - ix
    ty = fy - iy
    top = lattice[iy, ix] * (1.0 - tx) + lattice[iy, ix + 1] * tx
    bottom = lattice[iy + 1, ix] * (1.0 - tx) + lattice[iy + 1, ix + 1] * tx
    return top * (1.0 - ty) + bottom * ty


def paint(image: np.ndarray, alpha: np.ndarray, color: np.ndarray | tuple[float, float, float]) -> None:
    """Blend ``color`` (RGB or per-pixel ``(H, W, 3)``) into ``image`` with ``alpha`` ``(H, W)``, in place."""
    weight = alpha[..., None]
    image *= 1.0 - weight
    image += weight * np.asarray(color, dtype=np.float64)


def box_downsample(image: np.ndarray) -> np.ndarray:
    """Average of each 2×2 block: ``(H, W, C)`` → ``(H/2, W/2, C)``."""
    return (image[0::2, 0::2] + image[0::2, 1::2] + image[1::2, 0::2] + image[1::2, 1::2]) * 0.25


def nearest_upsample(image: np.ndarray) -> np.ndarray:
    """Repeat every pixel into a 2×2 block."""
    return np.repeat(np.repeat(image, 2, axis=0), 2, axis=1)


def bilinear_upsample(image: np.ndarray) -> np.ndarray:
    """×2 bilinear up-sampling with half-pixel centres (weights 3/4 and 1/4, edges replicated)."""
    return _upsample_axis(_upsample_axis(image, 0), 1)


def _upsample_axis(image: np.ndarray, axis: int) -> np.ndarray:
    padded = np.pad(image, [(1, 1) if a == axis else (0, 0) for a in range(image.ndim)], mode="edge")
    length = image.shape[axis]
    previous = np.take(padded, np.arange(0, length), axis=axis)
    current = np.take(padded, np.arange(1, length + 1), axis=axis)
    following = np.take(padded, np.arange(2, length + 2), axis=axis)
    even = previous * 0.25 + current * 0.75
    odd = current * 0.75 + following * 0.25
    shape = list(image.shape)
    shape[axis] *= 2
    result = np.empty(shape, dtype=np.float64)
    index_even = [slice(None)] * image.ndim
    index_odd = [slice(None)] * image.ndim
    index_even[axis] = slice(0, None, 2)
    index_odd[axis] = slice(1, None, 2)
    result[tuple(index_even)] = even
    result[tuple(index_odd)] = odd
    return result


def convolve(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Same-size convolution with channel mixing, as explicit shifted sums (no BLAS).

    Args:
        image: ``(H, W, C_in)``.
        kernel: ``(K, K, C_in, C_out)`` with odd ``K``; edges are replicated.

    Returns:
        ``(H, W, C_out)``.
    """
    size, _, channels_in, channels_out = kernel.shape
    radius = size // 2
    padded = np.pad(image, ((radius, radius), (radius, radius), (0, 0)), mode="edge")
    height, width = image.shape[:2]
    output = np.zeros((height, width, channels_out), dtype=np.float64)
    for dy in range(size):
        for dx in range(size):
            window = padded[dy : dy + height, dx : dx + width]
            for c_in in range(channels_in):
                plane = window[..., c_in]
                for c_out in range(channels_out):
                    output[..., c_out] += plane * kernel[dy, dx, c_in, c_out]
    return output


def quantize(image: np.ndarray) -> np.ndarray:
    """Round to the nearest integer (half to even) and clip to uint8."""
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)
