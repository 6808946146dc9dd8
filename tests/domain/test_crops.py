"""Crop proposals: random crops with known inclusion probabilities, distortion-guided regions
(small ones included), and text changes read by a real OCR engine (Tesseract)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from app.domain.crops import (
    Box,
    bucket_scale,
    edit_distance,
    guided_crops,
    log_bpp_bucket,
    normalise_text,
    random_crops,
    random_positions,
    text_crops,
)
from app.domain.ocr import TesseractOcr


def test_random_crops_are_distinct_inside_and_carry_their_inclusion_probability() -> None:
    rng = np.random.default_rng(0)
    crops = random_crops(300, 200, 64, 12, rng)
    positions = (300 - 64 + 1) * (200 - 64 + 1)
    assert len({(c.box.x, c.box.y) for c in crops}) == 12
    assert all(0 <= c.box.x <= 300 - 64 and 0 <= c.box.y <= 200 - 64 for c in crops)
    assert all(c.inclusion_probability == pytest.approx(12 / positions) for c in crops)
    # Summed over every position the design can draw, the probabilities give the sample size.
    assert crops[0].inclusion_probability * positions == pytest.approx(12)
    assert random_crops(50, 50, 64, 3, rng) == []  # the crop does not fit
    assert len(random_crops(64, 65, 64, 5, rng)) == 2  # only two positions exist


def test_random_crop_probabilities_match_drawing_frequencies_and_weight_without_bias() -> None:
    """Over many draws each position comes up with its stated probability, and the
    Horvitz-Thompson estimate (sum of value / probability) is unbiased for the total."""
    width, height, size, count = 10, 8, 4, 5
    positions = random_positions(width, height, size)
    rng = np.random.default_rng(42)
    values = rng.random((height - size + 1, width - size + 1))  # a quantity at each position
    hits = np.zeros_like(values)
    estimates = []
    draws = 4000
    for _ in range(draws):
        crops = random_crops(width, height, size, count, rng)
        estimates.append(sum(values[c.box.y, c.box.x] / c.inclusion_probability for c in crops))
        for c in crops:
            hits[c.box.y, c.box.x] += 1
    expected = count / positions
    assert hits.sum() == draws * count
    assert np.abs(hits / draws - expected).max() < 0.035
    assert np.mean(estimates) == pytest.approx(values.sum(), rel=0.02)


def _noise_map(rng: np.random.Generator, shape: tuple[int, int] = (400, 600)) -> np.ndarray:
    return rng.random(shape).astype(np.float32) * 0.3


def test_guided_crops_find_a_region_of_a_fifth_of_a_percent_first() -> None:
    rng = np.random.default_rng(1)
    values = _noise_map(rng)
    values[100:122, 400:422] = 5.0  # 484 px = 0.2 % of the image: the paper's key example
    values[300:360, 50:150] = 2.6  # a larger but milder region
    crops = guided_crops(values, 64, top_k=5)
    assert [c.method for c in crops] == ["guided", "guided"]
    small = crops[0].box
    assert small.x <= 400 and small.x + 64 >= 422 and small.y <= 100 and small.y + 64 >= 122
    assert crops[0].evidence["region_share_percent"] < 0.5
    assert crops[0].score > crops[1].score
    assert guided_crops(_noise_map(rng), 64) == []  # noise below the threshold proposes nothing


def test_guided_crops_suppress_overlaps_and_keep_top_k() -> None:
    rng = np.random.default_rng(2)
    values = _noise_map(rng)
    values[50:60, 50:60] = 4.0
    values[50:60, 66:76] = 3.5  # its crop would overlap the first one's
    for i in range(6):
        values[300:310, 60 + i * 90 : 70 + i * 90] = 2.5 + i * 0.1
    crops = guided_crops(values, 64, top_k=4, max_iou=0.25)
    assert len(crops) == 4
    assert all(a.box.iou(b.box) <= 0.25 for i, a in enumerate(crops) for b in crops[i + 1 :])
    assert crops[0].score == pytest.approx(max(c.score for c in crops))


def test_normalising_per_bucket_keeps_a_clean_image_from_proposing_its_noise() -> None:
    rng = np.random.default_rng(3)
    clean = rng.random((200, 200)).astype(np.float32) * 2  # only mild noise
    damaged = clean.copy()
    damaged[80:120, 80:120] = 40.0
    scale = bucket_scale([clean, damaged])
    assert guided_crops(clean / scale, 64) == []
    (found,) = guided_crops(damaged / scale, 64)
    assert found.box.x <= 80 and found.box.x + 64 >= 120 - 24  # centred on the damaged block


def _sign(text: str) -> np.ndarray:
    rng = np.random.default_rng(0)
    base = rng.normal(180, 12, (240, 420, 3)).clip(0, 255).astype(np.uint8)
    image = Image.fromarray(base)
    draw = ImageDraw.Draw(image)
    draw.text((40, 40), "PLATFORM", fill=(20, 20, 20), font=ImageFont.load_default(size=44))
    draw.text((60, 130), text, fill=(20, 20, 20), font=ImageFont.load_default(size=64))
    return np.asarray(image)


def test_ocr_finds_a_planted_digit_change() -> None:
    ocr = TesseractOcr()
    original, changed = _sign("B-MC 2264"), _sign("B-MC 2284")
    before, after = ocr.read(original), ocr.read(changed)
    assert "2264" in [w.text for w in before]
    (crop,) = text_crops(before, after, 128, 420, 240)
    assert crop.method == "text"
    assert (crop.evidence["before"], crop.evidence["after"]) == ("2264", "2284")
    assert crop.evidence["distance"] == 1
    x, y, w, h = crop.evidence["word_box"]
    box = crop.box  # centred on the word (here wider than the crop: the centre is kept)
    assert box.x + 64 == x + w // 2 and box.y + 64 == y + h // 2
    (wide,) = text_crops(before, after, 200, 420, 240)
    assert wide.box.x <= x and x + w <= wide.box.x + 200 and wide.box.y <= y
    assert text_crops(before, ocr.read(original), 128, 420, 240) == []  # same text: nothing


def test_text_comparison_normalises_digits_but_not_real_changes() -> None:
    assert normalise_text("２０２６", digits=True) == "2026"
    assert normalise_text("2O26", digits=True) == normalise_text("2026", digits=True)
    assert normalise_text("EXIT", digits=False) == "exit"
    assert normalise_text("ROAD", digits=False) != normalise_text("R0AD", digits=False)
    assert edit_distance("2264", "2284") == 1 and edit_distance("", "abc") == 3


def test_boxes_and_buckets() -> None:
    assert Box(0, 0, 10).iou(Box(5, 0, 10)) == pytest.approx(50 / 150)
    assert Box.centred(5, 5, 64, 300, 200) == Box(0, 0, 64)
    assert Box.centred(299, 199, 64, 300, 200) == Box(236, 136, 64)
    assert Box(0, 0, 64).share_percent(640, 640) == pytest.approx(1.0)
    assert log_bpp_bucket(0.3) == log_bpp_bucket(0.29) != log_bpp_bucket(0.5)
