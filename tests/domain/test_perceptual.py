"""LPIPS and DISTS: computed only from local backbones, and equal to their reference packages.

No ImageNet backbone is on this machine, so the backbones here are torchvision's architectures
with seeded random weights. The reference packages are given the same backbone in place of
their download (torchvision's constructors are what we replace: code we do not own)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from app.domain import perceptual
from app.domain.perceptual import BACKBONES, Dists, Lpips, PerceptualMetrics, availability


def _random_state(constructor: object, seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return constructor(weights=None).state_dict()  # type: ignore[operator,no-any-return]


@pytest.fixture(scope="module")
def alexnet_state() -> dict[str, torch.Tensor]:
    return _random_state(torchvision.models.alexnet, 1)


@pytest.fixture(scope="module")
def vgg16_state() -> dict[str, torch.Tensor]:
    return _random_state(torchvision.models.vgg16, 2)


@pytest.fixture(scope="module")
def pair() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    original = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)
    noisy = np.clip(original.astype(int) + rng.integers(-40, 41, original.shape), 0, 255)
    return original, noisy.astype(np.uint8)


def _with_weights(constructor: object, state: dict[str, torch.Tensor]) -> object:
    def build(*args: object, **kwargs: object) -> torch.nn.Module:
        model = constructor(weights=None)  # type: ignore[operator]
        model.load_state_dict(state)
        return model  # type: ignore[no-any-return]

    return build


def test_lpips_equals_the_lpips_package(
    alexnet_state: dict[str, torch.Tensor],
    pair: tuple[np.ndarray, np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import lpips

    monkeypatch.setattr(
        lpips.pretrained_networks.tv,
        "alexnet",
        _with_weights(torchvision.models.alexnet, alexnet_state),
    )
    reference = lpips.LPIPS(net="alex", version="0.1", verbose=False)
    original, noisy = pair
    ours = Lpips(alexnet_state)(original, noisy)
    with torch.inference_mode():
        expected = reference(
            perceptual._to_tensor(original, "cpu"),
            perceptual._to_tensor(noisy, "cpu"),
            normalize=True,
        ).item()
    assert ours == pytest.approx(expected, rel=1e-5)
    assert ours > 0
    assert Lpips(alexnet_state)(original, original) == pytest.approx(0.0, abs=1e-7)


def test_dists_equals_the_dists_package(
    vgg16_state: dict[str, torch.Tensor],
    pair: tuple[np.ndarray, np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from DISTS_pytorch import DISTS_pt

    monkeypatch.setattr(
        DISTS_pt.models, "vgg16", _with_weights(torchvision.models.vgg16, vgg16_state)
    )
    reference = DISTS_pt.DISTS().eval()
    original, noisy = pair
    ours = Dists(vgg16_state)(original, noisy)
    expected = reference(
        perceptual._to_tensor(original, "cpu"), perceptual._to_tensor(noisy, "cpu")
    ).item()
    assert ours == pytest.approx(expected, rel=1e-4)
    assert 0 < ours < 1
    assert Dists(vgg16_state)(original, original) == pytest.approx(0.0, abs=1e-5)


def test_missing_backbone_is_unavailable_with_file_and_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    metrics = PerceptualMetrics(tmp_path)
    reasons = metrics.unavailable()
    assert set(reasons) == {"lpips_alex", "dists"}
    assert "alexnet-owt-7be5be79.pth not found" in reasons["lpips_alex"]
    assert "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth" in reasons["lpips_alex"]
    assert "vgg16-397923af.pth" in reasons["dists"]
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    assert metrics.measure(image, image) == {}  # nothing computed, nothing invented


def test_backbone_with_wrong_checksum_is_refused(
    tmp_path: Path, alexnet_state: dict[str, torch.Tensor], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    torch.save(alexnet_state, tmp_path / BACKBONES["lpips_alex"].file_name)
    status = availability("lpips_alex", tmp_path)
    assert not status.available
    assert "does not match the 7be5be79 in its name" in status.reason


def test_backbone_in_the_torch_hub_cache_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file whose content matches its name is taken from torch's cache folder. The real
    backbone is not here, so the test looks for a file named with the sha of its content."""
    cache = tmp_path / "torch-home" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    content = b"not really a backbone"
    import hashlib

    prefix = hashlib.sha256(content).hexdigest()[:8]
    (cache / f"alexnet-owt-{prefix}.pth").write_bytes(content)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setitem(
        BACKBONES, "lpips_alex", perceptual.Backbone(f"alexnet-owt-{prefix}.pth", "https://x")
    )
    status = availability("lpips_alex", tmp_path / "weights")
    assert status.available and status.path == cache / f"alexnet-owt-{prefix}.pth"
