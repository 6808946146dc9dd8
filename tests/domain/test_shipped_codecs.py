"""The codecs the project trains and ships inside its package: present on a fresh install,
coded exactly and deterministically on the CPU, and packed from a training's output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from app.domain.codecs import registry
from app.domain.codecs.base import BitsSource
from app.domain.codecs.learned import sha256_of
from app.domain.codecs.shipped import SHIPPED, pack_weights
from app.domain.codecs.training import TrainConfig, pack_for_shipping, train
from app.domain.testcard import draw_test_card

MAX_SHIPPED_BYTES = 8 * 1024 * 1024


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_model_is_in_the_package_with_a_matching_card(name: str) -> None:
    model = SHIPPED[name]
    assert model.weights.is_file(), "shipped weights are package data"
    assert model.weights.stat().st_size <= MAX_SHIPPED_BYTES
    card = model.card
    assert card["weights_sha256"] == sha256_of(model.weights)
    assert card["architecture"] == model.arch
    assert card["training_data"]["folder"] == "wikipedia-photos"
    assert len(card["training_data"]["sha256"]) == card["training_data"]["images"] > 0
    assert card["validation"]["bpp"] > 0
    availability = registry.availability(name)
    assert availability.available, availability.detail
    assert "shipped" in availability.detail and "bpp" in availability.detail


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_model_codes_deterministically_and_passes_the_decode_check(name: str) -> None:
    card = np.asarray(draw_test_card().resize((200, 150)), dtype=np.uint8)  # not a multiple of 64
    codec = registry.build(name, device="cpu")
    first, second = codec.encode_decode(card), codec.encode_decode(card)
    assert first.bits_source is BitsSource.BITSTREAM and first.bits > 0
    assert first.reconstruction.shape == card.shape
    assert first.invalid_reason is None, first.invalid_reason
    assert first.bits == second.bits
    assert np.array_equal(first.reconstruction, second.reconstruction), "CPU decode repeats"
    identity = codec.identity()
    assert (
        identity["model"] == name
        and identity["weights_sha256"] == SHIPPED[name].card["weights_sha256"]
    )


def test_packing_halves_the_weights_and_keeps_the_card(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(1)
    for i in range(2):
        pixels = rng.integers(0, 256, (80, 96, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(photos / f"{i}.png")
    trained = tmp_path / "tiny.pth"
    config = TrainConfig(
        data=photos, val=photos, out=trained, N=8, M=12, steps=2, batch_size=2, patch=64,
        threads=1,
    )  # fmt: skip
    train(config)
    packed = tmp_path / "shipped" / "tiny-packed.pth"
    card = pack_for_shipping(trained, packed)
    assert packed.stat().st_size < 0.75 * trained.stat().st_size
    on_disk = json.loads(packed.with_suffix(".json").read_text())
    assert on_disk == card
    assert card["weights_sha256"] == sha256_of(packed) != card["trained_weights_sha256"]
    assert card["weights_file"] == "tiny-packed.pth"
    assert card["weights_sha256"] in packed.with_suffix(".md").read_text()
    state = torch.load(packed, weights_only=True)
    assert all(v.dtype == torch.float16 for v in state.values() if v.is_floating_point())
    assert pack_weights(torch.load(trained, weights_only=True)).keys() == state.keys()
