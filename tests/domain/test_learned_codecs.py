"""CompressAI models with random weights (pretrained=False, entropy tables updated), and
checkpoints named in the operator's weights folder. No weights are downloaded: the zoo's files
must be local."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from app.domain.codecs import registry
from app.domain.codecs.base import BitsSource, CodecError, CodecUnavailable
from app.domain.codecs.learned import (
    MAX_DECODE_MISMATCH,
    CheckpointCodec,
    CompressAICodec,
    decode_mismatch,
)
from app.domain.codecs.operator import OperatorSetup
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


def test_a_decode_further_from_forward_than_the_limit_is_invalid_with_its_reason() -> None:
    forward = np.full((4, 6, 3), 100, dtype=np.uint8)
    at_limit = forward.copy()
    at_limit[1, 2, 0] += MAX_DECODE_MISMATCH
    over = forward.copy()
    over[3, 5, 2] -= MAX_DECODE_MISMATCH + 1
    assert decode_mismatch(forward, forward) == (0, None)
    assert decode_mismatch(forward, at_limit) == (MAX_DECODE_MISMATCH, None)
    mismatch, reason = decode_mismatch(forward, over)
    assert mismatch == MAX_DECODE_MISMATCH + 1
    assert reason == (
        f"invalid decode: decompress() differs from forward() by up to {mismatch} levels "
        f"(limit {MAX_DECODE_MISMATCH})"
    )
    # Black decoded as white is 255 levels apart, not 1 (no 8-bit wrap-around).
    black, white = np.zeros((1, 1, 3), np.uint8), np.full((1, 1, 3), 255, np.uint8)
    assert decode_mismatch(black, white)[0] == decode_mismatch(white, black)[0] == 255


def test_missing_zoo_weights_name_the_file_and_its_publisher(tmp_path: Path) -> None:
    with pytest.raises(CodecUnavailable) as error:
        CompressAICodec(arch="bmshj2018-hyperprior", quality=1, operator=OperatorSetup(tmp_path))
    message = str(error.value)
    assert "bmshj2018-hyperprior-1-7eb97409.pth.tar" in message
    assert "https://compressai.s3.amazonaws.com/models/v1/" in message
    assert "miscomp codecs fetch bmshj2018-hyperprior --metric mse --quality 1" in message


def test_zoo_weights_are_sha256_checked(tmp_path: Path) -> None:
    (tmp_path / "bmshj2018-hyperprior-1-7eb97409.pth.tar").write_bytes(b"not the real file")
    with pytest.raises(CodecUnavailable, match="does not match"):
        CompressAICodec(arch="bmshj2018-hyperprior", quality=1, operator=OperatorSetup(tmp_path))


def test_checkpoint_in_the_weights_folder_reproduces_the_model(
    card: np.ndarray, tmp_path: Path
) -> None:
    zoo = CompressAICodec(arch="mbt2018-mean", quality=2, pretrained=False, init_seed=3)
    model = zoo._model("cpu")
    (tmp_path / "ours").mkdir()
    torch.save({"epoch": 1, "state_dict": model.state_dict()}, tmp_path / "ours" / "trained.pth")
    checkpoint = CheckpointCodec(
        path="ours/trained.pth", arch="mbt2018-mean", operator=OperatorSetup(tmp_path)
    )
    a, b = zoo.encode_decode(card), checkpoint.encode_decode(card)
    assert a.bits == b.bits
    assert np.array_equal(a.reconstruction, b.reconstruction)
    assert checkpoint.identity()["weights_sha256"] == checkpoint.weights_sha256


def test_quality_ranges_are_validated_without_torch_imports() -> None:
    with pytest.raises(ValueError, match="qualities 1-6"):
        registry.validate("compressai", {"arch": "cheng2020-anchor", "quality": 7})
    assert registry.validate("compressai", {"arch": "mbt2018", "quality": 3})["metric"] == "mse"


def test_checkpoints_and_weights_are_named_inside_the_weights_folder(tmp_path: Path) -> None:
    """The finding: ``path = "/etc/passwd"`` was read by the worker. A run names files relative
    to the operator's folder; the web process refuses anything else before a run exists."""
    weights, outside = tmp_path / "weights", tmp_path / "outside"
    weights.mkdir()
    outside.mkdir()
    (outside / "model.pth").write_bytes(b"x")
    (weights / "escape.pth").symlink_to(outside / "model.pth")
    (weights / "escaping-folder").symlink_to(outside)
    (weights / "real.pth").write_bytes(b"x")
    (weights / "alias.pth").symlink_to(weights / "real.pth")
    operator = OperatorSetup(weights)
    refused = {
        "/etc/passwd": "is not relative",
        str(weights / "real.pth"): "is not relative",
        "../outside/model.pth": "'..' is not allowed",
        "sub/../../outside/model.pth": "'..' is not allowed",
        "~root/.ssh/id_rsa": "is not relative",
        "escape.pth": "resolves outside the weights folder",
        "escaping-folder/model.pth": "resolves outside the weights folder",
        "a\x00b": "control character",
        " real.pth": "relative to the weights folder",
    }
    for path, message in refused.items():
        with pytest.raises(ValueError, match=message):
            registry.validate("checkpoint", {"path": path, "arch": "mbt2018-mean"}, operator)
        with pytest.raises(ValueError, match=message):
            CheckpointCodec(path=path, arch="mbt2018-mean", operator=operator)
    for weights_dir in ("/etc", "../outside", "escaping-folder"):
        with pytest.raises(ValueError, match="weights_dir: "):
            registry.validate(
                "compressai",
                {"arch": "mbt2018", "quality": 1, "weights_dir": weights_dir},
                operator,
            )
    for path in ("real.pth", "alias.pth", "not-yet-copied/model.pth"):
        checked = registry.validate("checkpoint", {"path": path, "arch": "mbt2018-mean"}, operator)
        assert checked["path"] == path
    with pytest.raises(CodecUnavailable, match="'missing.pth' not found in the weights folder"):
        CheckpointCodec(path="missing.pth", arch="mbt2018-mean", operator=operator)


def test_a_file_that_is_not_a_checkpoint_is_a_codec_error(card: np.ndarray, tmp_path: Path) -> None:
    """Not an unpickling error or a RuntimeError escaping the codec: the worker records the
    reason on the image and goes on."""
    (tmp_path / "passwd.pth").write_bytes(Path("/etc/passwd").read_bytes())
    torch.save({"conv.weight": torch.zeros(3, 3)}, tmp_path / "other-model.pth")
    operator = OperatorSetup(tmp_path)
    with pytest.raises(CodecError, match="passwd.pth is not a readable PyTorch checkpoint"):
        CheckpointCodec(path="passwd.pth", arch="mbt2018-mean", operator=operator).encode_decode(
            card
        )
    with pytest.raises(CodecError, match="other-model.pth is not a mbt2018-mean checkpoint"):
        CheckpointCodec(
            path="other-model.pth", arch="mbt2018-mean", operator=operator
        ).encode_decode(card)
