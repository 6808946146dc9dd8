from __future__ import annotations

import math

import numpy as np
import pytest

from app.domain.metrics import (
    DIFFERENCE_GAIN,
    amplified_difference,
    ciede2000,
    ciede2000_map,
    measure,
    ms_ssim_rgb,
    psnr_rgb,
    ssim_map,
)


def _pair() -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:300, 0:433]
    a = np.stack(
        [x * 255 / 432, y * 255 / 299, 127.5 + 127.5 * np.sin(x / 7.0) * np.cos(y / 11.0)],
        axis=2,
    )
    a = np.rint(a).astype(np.uint8)
    rng = np.random.default_rng(0)
    b = np.clip(a.astype(int) + rng.integers(-12, 13, a.shape), 0, 255).astype(np.uint8)
    return a, b


def test_psnr_of_a_constant_offset_is_exact() -> None:
    a = np.full((8, 8, 3), 100, np.uint8)
    assert psnr_rgb(a, a + 1) == pytest.approx(10 * math.log10(255**2))
    assert psnr_rgb(a, a) == math.inf


def test_ms_ssim_matches_pytorch_msssim() -> None:
    import torch
    from pytorch_msssim import ms_ssim

    a, b = _pair()
    as_tensor = [torch.from_numpy(x).permute(2, 0, 1)[None].double() for x in (a, b)]
    reference = float(ms_ssim(*as_tensor, data_range=255, size_average=True))
    # pytorch-msssim builds its Gaussian window in float32, hence a gap of about 2e-6.
    assert ms_ssim_rgb(a, b) == pytest.approx(reference, abs=1e-5)
    assert ms_ssim_rgb(a, a) == pytest.approx(1.0)


def test_ms_ssim_is_undefined_on_small_images() -> None:
    a = np.zeros((160, 400, 3), np.uint8)
    assert ms_ssim_rgb(a, a) is None


def test_maps_are_aligned_with_the_image() -> None:
    a, b = _pair()
    assert ssim_map(a, b).shape == a.shape[:2]
    delta = ciede2000_map(a, b)
    assert delta.shape == a.shape[:2]
    assert float(ciede2000_map(a, a).max()) == 0.0
    assert float(delta.mean()) > 0.5


def test_difference_uses_the_fixed_gain_and_clips() -> None:
    a = np.zeros((2, 2, 3), np.uint8)
    b = a.copy()
    b[0, 0] = (3, 100, 0)
    diff = amplified_difference(a, b)
    assert diff[0, 0].tolist() == [3 * DIFFERENCE_GAIN, 255, 0]
    assert diff[1, 1].tolist() == [0, 0, 0]


def test_measure_reports_json_ready_values() -> None:
    a, b = _pair()
    report = measure(a, b).as_json()
    # PSNR's definition over every sample of the three channels, rounded to 4 places.
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    assert report["psnr_rgb"] == round(10 * math.log10(255**2 / mse), 4)
    assert report["max_abs_diff"] == int(np.abs(a.astype(int) - b.astype(int)).max())
    identical = measure(a, a).as_json()
    assert identical["psnr_rgb"] is None  # infinite: JSON has no infinity


# Sharma, Wu and Dalal (2005), "The CIEDE2000 color-difference formula: implementation notes,
# supplementary test data, and mathematical observations": pairs 1, 7, 17 and 25.
SHARMA_PAIRS = [
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
]


@pytest.mark.parametrize(("lab1", "lab2", "expected"), SHARMA_PAIRS)
def test_ciede2000_reproduces_sharmas_test_data(lab1: tuple, lab2: tuple, expected: float) -> None:  # type: ignore[type-arg]
    value = ciede2000(np.array([lab1], np.float32), np.array([lab2], np.float32))[0]
    assert value == pytest.approx(expected, abs=1e-3)


def test_ciede2000_map_matches_scikit_image() -> None:
    from skimage.color import deltaE_ciede2000, rgb2lab

    a, b = _pair()
    reference = deltaE_ciede2000(rgb2lab(a), rgb2lab(b))
    assert np.abs(ciede2000_map(a, b) - reference).max() < 2e-3


def test_ssim_map_is_wang_ssim_as_scikit_image_computes_it() -> None:
    from skimage.metrics import structural_similarity

    a, b = _pair()
    _, reference = structural_similarity(
        a,
        b,
        channel_axis=2,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=255,
        full=True,
    )
    ours = ssim_map(a, b)
    assert ours.shape == a.shape[:2]
    # Inside the border the window fits and both agree; the 5-pixel border is padded.
    assert np.abs(ours[5:-5, 5:-5] - reference.mean(axis=2)[5:-5, 5:-5]).max() < 1e-3


def test_palette_heat_map_decodes_to_the_rgb_heat_map_and_raw_values_round_trip() -> None:
    import io

    from PIL import Image

    from app.domain import heatmaps

    values = np.linspace(-2, 25, 64 * 48, dtype=np.float32).reshape(48, 64)
    png = Image.open(io.BytesIO(heatmaps.heatmap_png(values, heatmaps.CIEDE2000_RANGE)))
    assert png.mode == "P" and png.size == (64, 48)
    rgb = heatmaps.heatmap(values, heatmaps.CIEDE2000_RANGE)
    assert np.array_equal(np.asarray(png.convert("RGB")), rgb)
    assert (rgb[0, 0] == heatmaps._lut()[0]).all() and (rgb[-1, -1] == heatmaps._lut()[255]).all()
    middle = heatmaps.colour_indices(np.array([10.0], dtype=np.float32), (0.0, 20.0))
    assert middle.tolist() == [128]  # 127.5 rounds half up
    raw = np.load(io.BytesIO(heatmaps.npz_bytes(ciede2000=values.astype(np.float16))))
    assert np.array_equal(raw["ciede2000"], values.astype(np.float16))


@pytest.mark.parametrize("block_pixels", [1, 3_000, 30_000])
def test_results_do_not_depend_on_the_block_size(
    block_pixels: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.domain import metrics

    a, b = _pair()
    whole = metrics.analyse(a, b)  # the default blocks against a single block
    monkeypatch.setattr(metrics, "BLOCK_PIXELS", 10**9)
    single = metrics.analyse(a, b)
    monkeypatch.setattr(metrics, "BLOCK_PIXELS", block_pixels)  # 1 row, 6 rows, 69 rows
    blocked = metrics.analyse(a, b)
    for other in (whole, blocked):
        exact = ("psnr_rgb", "ms_ssim_rgb", "max_abs_diff")
        assert [getattr(other.metrics, k) for k in exact] == [
            getattr(single.metrics, k) for k in exact
        ]
        assert np.array_equal(other.ssim_map, single.ssim_map)
        # NumPy's arctan2, sin and cos may round a last bit differently from run to run
        # (seen in about one run in five); near a hue branch that can move a rare pixel
        # further, so CIEDE2000 agrees to float32 rounding nearly everywhere.
        close = np.isclose(other.ciede2000_map, single.ciede2000_map, rtol=1e-5, atol=1e-5)
        assert close.mean() > 0.999
        assert other.metrics.ciede2000_mean == pytest.approx(
            single.metrics.ciede2000_mean, rel=1e-5
        )


def test_ciede2000_handles_grey_pixels_and_hues_across_zero() -> None:
    # Grey pixels have no hue (the formula's chroma-zero branch); hues either side of 0 and of
    # pi average across the wrap; each is checked against scikit-image's float64 formula.
    from skimage.color import deltaE_ciede2000

    lab1 = np.array(
        [[50, 0, 0], [50, 0, 0], [60, 10, -1], [60, -10, 1], [40, -30, 0.5], [70, 0, 30]],
        np.float32,
    )
    lab2 = np.array(
        [[55, 0, 0], [50, 3, 4], [60, 10, 1], [60, -10, -1], [40, -30, -0.5], [72, 0, -30]],
        np.float32,
    )
    expected = deltaE_ciede2000(lab1.astype(np.float64), lab2.astype(np.float64))
    assert ciede2000(lab1, lab2) == pytest.approx(expected, abs=1e-4)
