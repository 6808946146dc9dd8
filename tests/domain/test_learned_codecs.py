"""CompressAI models with random weights (pretrained=False, entropy tables updated), and
checkpoints given by path. No weights are downloaded: the zoo's files must be local."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from app.domain.codecs import registry
from app.domain.codecs.base import BitsSource, CodecUnavailable
from app.domain.codecs.learned import CheckpointCodec, CompressAICodec
from app.domain.testcard import draw_test_card


@pytest.fixture(scope="module")
def card() -> np.ndarray:
    # 200x150 is not a multiple of 64: exercises padding and un-padding.
    return np.asarray(draw_test_card().resize((200, 150)), dtype=np.uint8)


@pytest.mark.parametrize(
    "arch", ["bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018-mean", "mbt2018"]
)
def test_random_weight_models_code_real_bitstreams(card: np.ndarray, arch: str) -> None:
    codec = CompressAICodec(arch=arch, quality=1, pretrained=False)
    out = codec.encode_decode(card)
    assert out.reconstruction.shape == card.shape
    assert out.bits_source is BitsSource.BITSTREAM
    assert out.bits > 0
    assert out.invalid_reason is None
    assert out.extra["decode_forward_max_abs_diff"] <= 4
    assert out.extra["padded_to"] == [192, 256]
    again = codec.encode_decode(card)
    assert again.bits == out.bits
    assert np.array_equal(again.reconstruction, out.reconstruction), "CPU decode must repeat"


def test_missing_zoo_weights_name_the_file_and_its_publisher(tmp_path: Path) -> None:
    with pytest.raises(CodecUnavailable) as error:
        CompressAICodec(arch="bmshj2018-hyperprior", quality=1, weights_dir=str(tmp_path))
    message = str(error.value)
    assert "bmshj2018-hyperprior-1-7eb97409.pth.tar" in message
    assert "https://compressai.s3.amazonaws.com/models/v1/" in message
    assert "nothing is downloaded" in message


def test_zoo_weights_are_sha256_checked(tmp_path: Path) -> None:
    (tmp_path / "bmshj2018-hyperprior-1-7eb97409.pth.tar").write_bytes(b"not the real file")
    with pytest.raises(CodecUnavailable, match="does not match"):
        CompressAICodec(arch="bmshj2018-hyperprior", quality=1, weights_dir=str(tmp_path))


def test_checkpoint_by_path_reproduces_the_model(card: np.ndarray, tmp_path: Path) -> None:
    zoo = CompressAICodec(arch="mbt2018-mean", quality=2, pretrained=False, init_seed=3)
    model = zoo._model("cpu")
    path = tmp_path / "trained.pth.tar"
    torch.save({"epoch": 1, "state_dict": model.state_dict()}, path)
    checkpoint = CheckpointCodec(path=str(path), arch="mbt2018-mean")
    a, b = zoo.encode_decode(card), checkpoint.encode_decode(card)
    assert a.bits == b.bits
    assert np.array_equal(a.reconstruction, b.reconstruction)
    assert checkpoint.identity()["weights_sha256"] == checkpoint.weights_sha256


def test_quality_ranges_are_validated_without_torch_imports() -> None:
    with pytest.raises(ValueError, match="qualities 1-6"):
        registry.validate("compressai", {"arch": "cheng2020-anchor", "quality": 7})
    assert registry.validate("compressai", {"arch": "mbt2018", "quality": 3})["metric"] == "mse"
