"""Training the project's own codecs: a tiny model for a few steps on generated images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from app import cli
from app.domain.codecs.learned import CheckpointCodec
from app.domain.codecs.operator import OperatorSetup
from app.domain.codecs.training import TrainConfig, train, training_state_path


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:96, 0:112]
    for i in range(3):
        base = np.stack([x * (i + 1), y * 2, (x + y) * (3 - i)], axis=2) % 256
        noise = rng.integers(0, 20, base.shape)
        Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8)).save(folder / f"{i}.png")
    return folder


def _config(photos: Path, out: Path, steps: int) -> TrainConfig:
    return TrainConfig(
        data=photos,
        val=photos,
        out=out,
        arch="mbt2018-mean",
        N=8,
        M=12,
        steps=steps,
        batch_size=2,
        patch=64,
        val_every=3,
        checkpoint_every=2,
        threads=1,
    )


def test_a_tiny_model_trains_loads_and_codes(photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "tiny.pth.tar"
    card = train(_config(photos, out, steps=4))
    assert out.is_file() and card["steps"] == 4
    assert card["training_data"]["images"] == 3
    assert len(card["training_data"]["sha256"]) == 3
    assert card["validation"]["bpp"] > 0 and card["validation"]["psnr_rgb"] > 0
    assert card["validation_data"]["images"] == ["0.png", "1.png", "2.png"]
    assert len(card["validation_data"]["sha256"]) == 3
    assert (
        json.loads(out.with_suffix(".json").read_text())["weights_sha256"] == card["weights_sha256"]
    )
    assert "Validation (real bitstreams)" in out.with_suffix(".md").read_text()
    codec = CheckpointCodec(
        operator=OperatorSetup(weights_dir=out.parent), path=out.name, arch="mbt2018-mean"
    )
    rgb = np.asarray(Image.open(photos / "0.png"))
    first, second = codec.encode_decode(rgb), codec.encode_decode(rgb)
    assert first.reconstruction.shape == rgb.shape and first.bits > 0
    assert np.array_equal(first.reconstruction, second.reconstruction), "CPU decode repeats"
    assert first.invalid_reason is None


def test_resume_continues_exactly(photos: Path, tmp_path: Path) -> None:
    straight = tmp_path / "straight.pth.tar"
    train(_config(photos, straight, steps=4))
    stopped = tmp_path / "stopped.pth.tar"
    train(_config(photos, stopped, steps=2))  # saves its state at step 2
    state = training_state_path(stopped)
    assert torch.load(state, weights_only=False)["step"] == 2
    resumed = tmp_path / "resumed.pth.tar"
    train(_config(photos, resumed, steps=4), resume=state)
    a = torch.load(straight, weights_only=True)
    b = torch.load(resumed, weights_only=True)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "resume must give the same weights"


def test_the_train_command_reports_mistakes_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli.app,
        ["codecs", "train", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "x.pth.tar")],
    )
    assert result.exit_code == 1
    assert "no such folder" in result.output


def test_a_different_learning_rate_on_resume_is_applied_and_recorded(
    photos: Path, tmp_path: Path
) -> None:
    stopped = tmp_path / "stopped.pth.tar"
    train(_config(photos, stopped, steps=2))
    decayed = tmp_path / "decayed.pth.tar"
    config = _config(photos, decayed, steps=3).model_copy(update={"lr": 1e-5})
    card = train(config, resume=training_state_path(stopped))
    assert card["lr_schedule"] == [[0, 1e-4], [2, 1e-5]]
    state = torch.load(training_state_path(decayed), weights_only=False)
    assert state["optimizer"]["param_groups"][0]["lr"] == 1e-5
    assert state["lr_schedule"] == [[0, 1e-4], [2, 1e-5]]


def test_training_can_warm_start_from_packed_weights(photos: Path, tmp_path: Path) -> None:
    from app.domain.codecs.training import pack_for_shipping

    first = tmp_path / "first.pth.tar"
    train(_config(photos, first, steps=2))
    packed = tmp_path / "packed.pth"
    pack_for_shipping(first, packed)
    warm = tmp_path / "warm.pth.tar"
    config = _config(photos, warm, steps=1).model_copy(update={"init": packed, "lr": 1e-12})
    train(config)
    started = torch.load(first, weights_only=True)
    after = torch.load(warm, weights_only=True)
    # One step at a negligible learning rate: the weights are the packed ones (float16).
    key = "g_a.0.weight"
    assert torch.allclose(after[key], started[key].half().float(), atol=1e-6)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_training_on_cuda_without_a_gpu_says_so_in_one_line(photos: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli.app,
        [
            "codecs", "train", "--data", str(photos), "--out", str(tmp_path / "x.pth.tar"),
            "--device", "cuda", "--steps", "1",
        ],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "no CUDA GPU is visible" in result.output
    assert not (tmp_path / "x.pth.tar").exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none on this machine)")
def test_resume_continues_exactly_on_cuda(photos: Path, tmp_path: Path) -> None:
    straight = tmp_path / "straight.pth.tar"
    train(_config(photos, straight, steps=4).model_copy(update={"device": "cuda"}))
    stopped = tmp_path / "stopped.pth.tar"
    train(_config(photos, stopped, steps=2).model_copy(update={"device": "cuda"}))
    resumed = tmp_path / "resumed.pth.tar"
    train(
        _config(photos, resumed, steps=4).model_copy(update={"device": "cuda"}),
        resume=training_state_path(stopped),
    )
    a = torch.load(straight, map_location="cpu")
    b = torch.load(resumed, map_location="cpu")
    assert all(torch.equal(a[k], b[k]) for k in a), "resume on CUDA must give the same weights"
