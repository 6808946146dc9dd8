"""Full-reference metrics and distortion maps of a reconstruction against its original.

Both images are 8-bit RGB arrays of the same shape, as CompressAI's evaluation rounds
reconstructions to 8 bits before measuring. MS-SSIM follows pytorch-msssim exactly (Gaussian
window 11 / sigma 1.5, valid filtering, 2x2 average pooling with zero padding, the five
Wang et al. weights), in NumPy so that it needs no torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache, partial

import numpy as np
from numpy.typing import NDArray

from app.domain.codecs.base import RGB8

F64 = NDArray[np.float64]
F32 = NDArray[np.float32]
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
DIFFERENCE_GAIN = 8
"""Fixed for every codec, so that difference images compare across codecs and bitrates."""
BLOCK_PIXELS = 80_000
"""Pixels per block of per-pixel arithmetic (whole rows: 64 rows of a 1,250-pixel-wide
photograph). On whole photographs every float temporary is megabytes and spills out of the
CPU caches, so that two threads of it (a reconstruction and its matched JPEG are measured at
once) run slower than one; blocks this size stay in cache. Every value is computed from the
same inputs in the same order whatever the block: PSNR, MS-SSIM and the SSIM map do not
depend on it at all, and CIEDE2000 only as far as NumPy's trigonometric functions round a
value a last bit differently from one run to the next (about 1e-6 here)."""


class ImageTooSmall(ValueError):
    """SSIM's window does not fit in the image."""


def _row_blocks(height: int, width: int) -> Iterator[slice]:
    """Slices of whole rows, about ``BLOCK_PIXELS`` each."""
    rows = max(1, BLOCK_PIXELS // max(1, width))
    for start in range(0, height, rows):
        yield slice(start, min(start + rows, height))


def _check(original: RGB8, reconstruction: RGB8) -> None:
    if original.shape != reconstruction.shape or original.ndim != 3 or original.shape[2] != 3:
        raise ValueError(f"shapes differ or are not RGB: {original.shape} {reconstruction.shape}")


def psnr_rgb(original: RGB8, reconstruction: RGB8) -> float:
    """PSNR over all RGB samples; +inf for identical images."""
    _check(original, reconstruction)
    return _psnr(_squared_error(original, reconstruction)[0], original.size)


def _psnr(squared_error: int, samples: int) -> float:
    mse = squared_error / samples
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def _squared_error(original: RGB8, reconstruction: RGB8) -> tuple[int, int]:
    """The exact sum of squared sample differences, and the largest absolute difference."""
    total, largest = 0, 0
    for rows in _row_blocks(*original.shape[:2]):
        diff = (original[rows].astype(np.int64) - reconstruction[rows]).ravel()
        total += int(np.dot(diff, diff))
        largest = max(largest, int(np.abs(diff).max(initial=0)))
    return total, largest


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> F64:
    coords = np.arange(size, dtype=np.float64) - size // 2
    g: F64 = np.exp(-(coords**2) / (2 * sigma**2))
    normalised: F64 = g / g.sum()
    return normalised


def _filter_valid(x: F32, window: F32) -> F32:
    """Separable Gaussian filtering over the last two axes, keeping only the 'valid' part
    (as pytorch-msssim's conv2d without padding)."""
    return _symmetric_pass(_symmetric_pass(x, window, axis=-2), window, axis=-1)


def _symmetric_pass(x: F32, window: F32, axis: int) -> F32:
    """One valid pass of the symmetric ``window`` along ``axis``: mirrored shifted views are
    added before they are weighted, half the multiplications. On cache-sized blocks this is
    twice as fast as scipy.ndimage.correlate1d, and differs from it by float32 rounding."""
    r = window.size // 2
    n = x.shape[axis] - 2 * r

    def shifted(start: int) -> F32:
        index = [slice(None)] * x.ndim
        index[axis] = slice(start, start + n)
        view: F32 = x[tuple(index)]
        return view

    out: F32 = window[r] * shifted(r)
    for k in range(1, r + 1):
        out += window[r + k] * (shifted(r - k) + shifted(r + k))
    return out


def _filtered_rows(
    make_planes: Callable[[slice], F32], height: int, width: int, window: F32
) -> F32:
    """The valid Gaussian filtering of the planes ``make_planes(rows)`` gives for input rows,
    one block of output rows at a time (each block reads its window's halo)."""
    halo = window.size - 1
    out: F32 | None = None
    for rows in _row_blocks(height - halo, width):
        block = _filter_valid(make_planes(slice(rows.start, rows.stop + halo)), window)
        if out is None:
            out = np.empty((*block.shape[:-2], height - halo, block.shape[-1]), np.float32)
        out[..., rows, :] = block
    assert out is not None, "callers check that the window fits"
    return out


def _ssim_parts(x_moments: F32, y: F32, x: F32, window: F32, data_range: float) -> tuple[F32, F32]:
    """SSIM and contrast-structure maps from the original's filtered moments (mean, mean
    square: shared by every reconstruction of it) and the reconstruction ``y``."""
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    halo = window.size - 1
    ssim_values = np.empty(x_moments.shape[1:], np.float32)
    cs_map = np.empty(x_moments.shape[1:], np.float32)
    for rows in _row_blocks(*ssim_values.shape[-2:]):
        ys, xs = y[:, rows.start : rows.stop + halo], x[:, rows.start : rows.stop + halo]
        # One filtering pass over the three stacked moments that involve the reconstruction.
        mu2, yy, xy = _filter_valid(np.stack([ys, ys * ys, xs * ys]), window)
        mu1, xx = x_moments[:, :, rows]
        mu1_sq, mu2_sq, mu12 = mu1 * mu1, mu2 * mu2, mu1 * mu2
        sigma1, sigma2, sigma12 = xx - mu1_sq, yy - mu2_sq, xy - mu12
        cs = (2 * sigma12 + c2) / (sigma1 + sigma2 + c2)
        cs_map[:, rows] = cs
        ssim_values[:, rows] = ((2 * mu12 + c1) / (mu1_sq + mu2_sq + c1)) * cs
    return ssim_values, cs_map


def _avg_pool2(x: F32) -> F32:
    """2x2 average pooling with zero padding on odd sizes (count_include_pad=True)."""
    h, w = x.shape[-2:]
    padded = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(h % 2, h % 2), (w % 2, w % 2)])
    ph, pw = padded.shape[-2:]
    ph, pw = (ph - 2) // 2 + 1, (pw - 2) // 2 + 1
    p = padded[..., : ph * 2, : pw * 2]
    pooled: F32 = (
        p[..., 0::2, 0::2] + p[..., 1::2, 0::2] + p[..., 0::2, 1::2] + p[..., 1::2, 1::2]
    ) / 4
    return pooled


@cache
def _window() -> NDArray[np.float32]:
    window = _gaussian_window().astype(np.float32)
    assert np.array_equal(window, window[::-1]), "the filtering relies on a symmetric window"
    return window


def _check_window_fits(shape: tuple[int, ...]) -> None:
    size = _window().size
    if min(shape[:2]) < size:
        raise ImageTooSmall(
            f"the image is {shape[1]} x {shape[0]} pixels; SSIM needs at least {size} x {size}"
        )


def _has_pyramid(shape: tuple[int, ...]) -> bool:
    """MS-SSIM needs the smaller side above 160 pixels (five scales of an 11-tap window)."""
    return bool(min(shape[:2]) > (_window().size - 1) * 2 ** (len(MS_SSIM_WEIGHTS) - 1))


@dataclass(frozen=True)
class Reference:
    """What every comparison with one original shares: its CIELAB values and, per MS-SSIM
    scale, its pixels (channels first, float32) with their filtered mean and mean square.
    Made once per original; a reconstruction and its matched JPEG then cost less."""

    shape: tuple[int, ...]
    lab: F32
    scales: list[tuple[F32, F32]]
    """(pixels, stacked [mean, mean square]) per scale."""


def _pixels_and_squares(x: F32, rows: slice) -> F32:
    part = x[:, rows]
    stacked: F32 = np.stack([part, part * part])
    return stacked


def reference_of(original: RGB8, *, lab: F32 | None = None) -> Reference:
    """The original's ``Reference`` (pass its ``lab_of`` when that is already computed)."""
    _check_window_fits(original.shape)
    window = _window()
    x = np.moveaxis(original.astype(np.float32), 2, 0)  # float32, as pytorch-msssim
    scales = []
    levels = len(MS_SSIM_WEIGHTS) if _has_pyramid(original.shape) else 1
    for level in range(levels):
        if level:
            x = _avg_pool2(x)
        height, width = x.shape[1:]
        scales.append((x, _filtered_rows(partial(_pixels_and_squares, x), height, width, window)))
    return Reference(original.shape, lab_of(original) if lab is None else lab, scales)


def structural_similarity(
    original: RGB8, reconstruction: RGB8, *, reference: Reference | None = None
) -> tuple[float | None, NDArray[np.float32]]:
    """MS-SSIM and the full-resolution SSIM map from one pass over the five scales.

    The map is the first scale's SSIM (Wang et al.: Gaussian sigma 1.5), averaged over the
    channels; its 5-pixel border, where the window does not fit, repeats the nearest values.
    MS-SSIM is None when the image is too small (the smaller side must exceed 160 pixels);
    below 11 x 11 pixels, where no window fits, ``ImageTooSmall`` is raised.
    """
    _check(original, reconstruction)
    reference = reference or reference_of(original)
    window = _window()
    y = np.moveaxis(reconstruction.astype(np.float32), 2, 0)
    x, x_moments = reference.scales[0]
    first_ssim, cs_map = _ssim_parts(x_moments, y, x, window, 255.0)
    r = window.size // 2
    full_map = np.pad(first_ssim.mean(axis=0), r, mode="edge").astype(np.float32)
    if not _has_pyramid(original.shape):
        return None, full_map
    factors = [np.maximum(cs_map.mean(axis=(1, 2)), 0)]
    for level in range(1, len(MS_SSIM_WEIGHTS)):
        y = _avg_pool2(y)
        x, x_moments = reference.scales[level]
        ssim_values, cs_map = _ssim_parts(x_moments, y, x, window, 255.0)
        last = level == len(MS_SSIM_WEIGHTS) - 1
        factors.append(np.maximum((ssim_values if last else cs_map).mean(axis=(1, 2)), 0))
    stacked = np.stack(factors).astype(np.float64)  # levels x channels
    weights = np.asarray(MS_SSIM_WEIGHTS)[:, None]
    return float(np.prod(stacked**weights, axis=0).mean()), full_map


def ms_ssim_rgb(original: RGB8, reconstruction: RGB8) -> float | None:
    """MS-SSIM on 0-255 RGB, channels averaged, as pytorch-msssim computes it."""
    return structural_similarity(original, reconstruction)[0]


def ssim_map(original: RGB8, reconstruction: RGB8) -> NDArray[np.float32]:
    """Per-pixel SSIM (Wang et al. settings), averaged over channels, same size as the image."""
    return structural_similarity(original, reconstruction)[1]


_SRGB_TO_XYZ = np.array(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ],
    dtype=np.float32,
)
_D65_WHITE = np.array([0.95047, 1.0, 1.08883], dtype=np.float32)


def _linear_lut() -> NDArray[np.float32]:
    c = np.arange(256, dtype=np.float64) / 255
    return np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92).astype(np.float32)


_SRGB_LINEAR = _linear_lut()


def lab_of(rgb: RGB8) -> F32:
    """CIELAB (D65, 2 degrees) of 8-bit sRGB, as scikit-image's rgb2lab, in float32."""
    lab = np.empty(rgb.shape, np.float32)
    for rows in _row_blocks(*rgb.shape[:2]):
        lab[rows] = _lab_block(rgb[rows])
    return lab


def _lab_block(rgb: RGB8) -> F32:
    xyz = _SRGB_LINEAR[rgb] @ _SRGB_TO_XYZ.T / _D65_WHITE
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116).astype(np.float32)
    lab: F32 = np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])],
        axis=-1,
    )
    return lab


# float32 scalars: a mask times a float64 scalar would make the whole formula float64.
_PI = np.float32(np.pi)
_TWO_PI = np.float32(2 * np.pi)
_FOUR_PI = np.float32(4 * np.pi)
_25_POW_7 = np.float32(25.0**7)


def _pow7(x: F32) -> F32:
    """x ** 7 by multiplications (NumPy's float power is several times slower)."""
    x2 = x * x
    out: F32 = x2 * x2 * x2 * x
    return out


def _hue_angle(b: F32, a: F32) -> F32:
    """atan2(b, a) in [0, 2 pi): an addition where it is negative (np.mod is much slower)."""
    hue: F32 = np.arctan2(b, a)
    hue += (hue < 0) * _TWO_PI
    return hue


def ciede2000(lab1: F32, lab2: F32) -> F32:
    """CIEDE2000 colour difference per pixel (Sharma, Wu and Dalal 2005), vectorised.

    Conditional branches are masks times constants, not ``np.where``, and powers are
    multiplications: on a block of pixels that halves the cost of the formula."""
    l1, a1, b1 = lab1[..., 0], lab1[..., 1], lab1[..., 2]
    l2, a2, b2 = lab2[..., 0], lab2[..., 1], lab2[..., 2]
    c_bar7 = _pow7((np.sqrt(a1 * a1 + b1 * b1) + np.sqrt(a2 * a2 + b2 * b2)) / 2)
    g = 0.5 * (1 - np.sqrt(c_bar7 / (c_bar7 + _25_POW_7)))
    a1p, a2p = a1 * (1 + g), a2 * (1 + g)
    c1p, c2p = np.sqrt(a1p * a1p + b1 * b1), np.sqrt(a2p * a2p + b2 * b2)
    h1p, h2p = _hue_angle(b1, a1p), _hue_angle(b2, a2p)
    chroma_product = c1p * c2p
    chroma_zero = chroma_product == 0
    dh = h2p - h1p
    dh -= (dh > _PI) * _TWO_PI
    dh += (dh < -_PI) * _TWO_PI
    dh[chroma_zero] = 0
    d_big_h = 2 * np.sqrt(chroma_product) * np.sin(dh / 2)
    l_bar, c_bar = (l1 + l2) / 2, (c1p + c2p) / 2
    h_sum = h1p + h2p
    # Hues more than pi apart average across 0: add 2 pi below 2 pi, subtract it above.
    far = np.abs(h1p - h2p) > _PI
    h_bar = (h_sum + far * (_TWO_PI - _FOUR_PI * (h_sum >= _TWO_PI))) / 2
    h_bar[chroma_zero] = h_sum[chroma_zero]
    t = (
        1
        - 0.17 * np.cos(h_bar - np.radians(30))
        + 0.24 * np.cos(2 * h_bar)
        + 0.32 * np.cos(3 * h_bar + np.radians(6))
        - 0.20 * np.cos(4 * h_bar - np.radians(63))
    )
    hue_offset = (h_bar * np.float32(180 / np.pi) - 275) / 25
    d_theta = np.radians(30) * np.exp(-(hue_offset * hue_offset))
    c_bar_7 = _pow7(c_bar)
    r_c = 2 * np.sqrt(c_bar_7 / (c_bar_7 + _25_POW_7))
    l_offset = (l_bar - 50) ** 2
    s_l = 1 + 0.015 * l_offset / np.sqrt(20 + l_offset)
    s_c = 1 + 0.045 * c_bar
    s_h = 1 + 0.015 * c_bar * t
    r_t = -np.sin(2 * d_theta) * r_c
    dl, dc, dhh = (l2 - l1) / s_l, (c2p - c1p) / s_c, d_big_h / s_h
    delta: F32 = np.sqrt(np.maximum(dl**2 + dc**2 + dhh**2 + r_t * dc * dhh, 0)).astype(np.float32)
    return delta


def ciede2000_map(original: RGB8, reconstruction: RGB8, *, original_lab: F32 | None = None) -> F32:
    """Per-pixel CIEDE2000 between two 8-bit sRGB images (pass the original's Lab when it is
    compared with several reconstructions)."""
    _check(original, reconstruction)
    lab = lab_of(original) if original_lab is None else original_lab
    delta = np.empty(original.shape[:2], np.float32)
    for rows in _row_blocks(*original.shape[:2]):
        delta[rows] = ciede2000(lab[rows], _lab_block(reconstruction[rows]))
    return delta


def amplified_difference(original: RGB8, reconstruction: RGB8, gain: int = DIFFERENCE_GAIN) -> RGB8:
    """|original - reconstruction| per channel times a fixed gain, clipped to 8 bits."""
    _check(original, reconstruction)
    diff = np.abs(original.astype(np.int16) - reconstruction.astype(np.int16))
    amplified: RGB8 = np.clip(diff * gain, 0, 255).astype(np.uint8)
    return amplified


@dataclass(frozen=True)
class Metrics:
    psnr_rgb: float
    ms_ssim_rgb: float | None
    ciede2000_mean: float
    max_abs_diff: int

    def as_json(self) -> dict[str, float | int | None]:
        return {
            "psnr_rgb": None if math.isinf(self.psnr_rgb) else round(self.psnr_rgb, 4),
            "ms_ssim_rgb": None if self.ms_ssim_rgb is None else round(self.ms_ssim_rgb, 6),
            "ciede2000_mean": round(self.ciede2000_mean, 4),
            "max_abs_diff": self.max_abs_diff,
        }


@dataclass(frozen=True)
class Analysis:
    """Metrics and the per-pixel maps they came from, computed once."""

    metrics: Metrics
    ssim_map: NDArray[np.float32]
    ciede2000_map: NDArray[np.float32]


def analyse(
    original: RGB8, reconstruction: RGB8, *, reference: Reference | None = None
) -> Analysis:
    """Every metric and map; pass the original's ``Reference`` when it is compared with
    several reconstructions."""
    reference = reference or reference_of(original)
    ms_ssim, ssim_values = structural_similarity(original, reconstruction, reference=reference)
    delta = ciede2000_map(original, reconstruction, original_lab=reference.lab)
    return Analysis(summarise(original, reconstruction, ms_ssim, delta), ssim_values, delta)


def summarise(
    original: RGB8, reconstruction: RGB8, ms_ssim: float | None, ciede2000_values: F32
) -> Metrics:
    """The metrics, from MS-SSIM and the CIEDE2000 map (computed apart, on other threads)."""
    squared_error, largest = _squared_error(original, reconstruction)
    return Metrics(
        psnr_rgb=_psnr(squared_error, original.size),
        ms_ssim_rgb=ms_ssim,
        ciede2000_mean=float(ciede2000_values.mean()),
        max_abs_diff=largest,
    )


def measure(original: RGB8, reconstruction: RGB8, *, reference: Reference | None = None) -> Metrics:
    return analyse(original, reconstruction, reference=reference).metrics
