"""Full-reference metrics and distortion maps of a reconstruction against its original.

Both images are 8-bit RGB arrays of the same shape, as CompressAI's evaluation rounds
reconstructions to 8 bits before measuring. MS-SSIM follows pytorch-msssim exactly (Gaussian
window 11 / sigma 1.5, valid filtering, 2x2 average pooling with zero padding, the five
Wang et al. weights), in NumPy so that it needs no torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from app.domain.codecs.base import RGB8

F64 = NDArray[np.float64]
F32 = NDArray[np.float32]
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
DIFFERENCE_GAIN = 8
"""Fixed for every codec, so that difference images compare across codecs and bitrates."""


def _check(original: RGB8, reconstruction: RGB8) -> None:
    if original.shape != reconstruction.shape or original.ndim != 3 or original.shape[2] != 3:
        raise ValueError(f"shapes differ or are not RGB: {original.shape} {reconstruction.shape}")


def psnr_rgb(original: RGB8, reconstruction: RGB8) -> float:
    """PSNR over all RGB samples; +inf for identical images."""
    _check(original, reconstruction)
    diff = original.astype(np.float64) - reconstruction.astype(np.float64)
    mse = float(np.mean(diff * diff))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> F64:
    coords = np.arange(size, dtype=np.float64) - size // 2
    g: F64 = np.exp(-(coords**2) / (2 * sigma**2))
    normalised: F64 = g / g.sum()
    return normalised


def _filter_valid(x: F32, window: NDArray[np.float32]) -> F32:
    """Separable Gaussian filtering over the last two axes, keeping only the 'valid' part
    (as pytorch-msssim's conv2d without padding)."""
    from scipy.ndimage import correlate1d

    r = window.size // 2
    rows = correlate1d(x, window, axis=-2, mode="constant")[..., r:-r, :]
    out: F32 = correlate1d(rows, window, axis=-1, mode="constant")[..., :, r:-r]
    return out


def _ssim_parts(
    x_moments: F32, y: F32, x: F32, window: NDArray[np.float32], data_range: float
) -> tuple[F32, F32]:
    """SSIM and contrast-structure maps from the original's filtered moments (mean, mean
    square: shared by every reconstruction of it) and the reconstruction ``y``."""
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    # One filtering pass over the three stacked moments that involve the reconstruction.
    mu2, yy, xy = _filter_valid(np.stack([y, y * y, x * y]), window)
    mu1, xx = x_moments
    mu1_sq, mu2_sq, mu12 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    sigma1, sigma2, sigma12 = xx - mu1_sq, yy - mu2_sq, xy - mu12
    cs_map: F32 = (2 * sigma12 + c2) / (sigma1 + sigma2 + c2)
    ssim_values: F32 = ((2 * mu12 + c1) / (mu1_sq + mu2_sq + c1)) * cs_map
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


def _window() -> NDArray[np.float32]:
    return _gaussian_window().astype(np.float32)


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


def reference_of(original: RGB8) -> Reference:
    window = _window()
    x = np.moveaxis(original.astype(np.float32), 2, 0)  # float32, as pytorch-msssim
    scales = []
    levels = len(MS_SSIM_WEIGHTS) if _has_pyramid(original.shape) else 1
    for level in range(levels):
        if level:
            x = _avg_pool2(x)
        scales.append((x, _filter_valid(np.stack([x, x * x]), window)))
    return Reference(original.shape, lab_of(original), scales)


def structural_similarity(
    original: RGB8, reconstruction: RGB8, *, reference: Reference | None = None
) -> tuple[float | None, NDArray[np.float32]]:
    """MS-SSIM and the full-resolution SSIM map from one pass over the five scales.

    The map is the first scale's SSIM (Wang et al.: Gaussian sigma 1.5), averaged over the
    channels; its 5-pixel border, where the window does not fit, repeats the nearest values.
    MS-SSIM is None when the image is too small (the smaller side must exceed 160 pixels).
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
    xyz = _SRGB_LINEAR[rgb] @ _SRGB_TO_XYZ.T / _D65_WHITE
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116).astype(np.float32)
    lab: F32 = np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])],
        axis=-1,
    )
    return lab


def ciede2000(lab1: F32, lab2: F32) -> F32:
    """CIEDE2000 colour difference per pixel (Sharma, Wu and Dalal 2005), vectorised."""
    l1, a1, b1 = lab1[..., 0], lab1[..., 1], lab1[..., 2]
    l2, a2, b2 = lab2[..., 0], lab2[..., 1], lab2[..., 2]
    c_bar7 = ((np.hypot(a1, b1) + np.hypot(a2, b2)) / 2) ** 7
    g = 0.5 * (1 - np.sqrt(c_bar7 / (c_bar7 + 25.0**7)))
    a1p, a2p = a1 * (1 + g), a2 * (1 + g)
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.mod(np.arctan2(b1, a1p), 2 * np.pi)
    h2p = np.mod(np.arctan2(b2, a2p), 2 * np.pi)
    chroma_zero = (c1p * c2p) == 0
    dh = h2p - h1p
    dh = np.where(dh > np.pi, dh - 2 * np.pi, np.where(dh < -np.pi, dh + 2 * np.pi, dh))
    dh = np.where(chroma_zero, 0, dh)
    d_big_h = 2 * np.sqrt(c1p * c2p) * np.sin(dh / 2)
    l_bar, c_bar = (l1 + l2) / 2, (c1p + c2p) / 2
    h_sum = h1p + h2p
    h_bar = np.where(
        np.abs(h1p - h2p) <= np.pi,
        h_sum / 2,
        np.where(h_sum < 2 * np.pi, (h_sum + 2 * np.pi) / 2, (h_sum - 2 * np.pi) / 2),
    )
    h_bar = np.where(chroma_zero, h_sum, h_bar)
    t = (
        1
        - 0.17 * np.cos(h_bar - np.radians(30))
        + 0.24 * np.cos(2 * h_bar)
        + 0.32 * np.cos(3 * h_bar + np.radians(6))
        - 0.20 * np.cos(4 * h_bar - np.radians(63))
    )
    d_theta = np.radians(30) * np.exp(-(((np.degrees(h_bar) - 275) / 25) ** 2))
    c_bar_7 = c_bar**7
    r_c = 2 * np.sqrt(c_bar_7 / (c_bar_7 + 25.0**7))
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
    return ciede2000(lab, lab_of(reconstruction))


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
    metrics = Metrics(
        psnr_rgb=psnr_rgb(original, reconstruction),
        ms_ssim_rgb=ms_ssim,
        ciede2000_mean=float(delta.mean()),
        max_abs_diff=int(np.abs(original.astype(np.int16) - reconstruction).max()),
    )
    return Analysis(metrics, ssim_values, delta)


def measure(original: RGB8, reconstruction: RGB8, *, reference: Reference | None = None) -> Metrics:
    return analyse(original, reconstruction, reference=reference).metrics
