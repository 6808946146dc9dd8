"""Learned perceptual metrics (LPIPS, DISTS), computed only where their backbones are local.

Both need ImageNet backbones that torchvision publishes (AlexNet for LPIPS, VGG16 for DISTS)
and that nothing here may download. They are looked up by torchvision's own file names in the
weights directory and in torch's hub cache; the 8 hex digits in each name are the start of
the file's sha256, which is checked. Where a file is missing or wrong, the metric is reported
unavailable with the reason, and every other metric is still computed.

The small learned layers on top ship inside their PyPI packages (``lpips``: BSD-2-Clause,
``DISTS_pytorch``: MIT), so only the backbones are needed. torch is imported only when a
metric is built, inside a worker.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from threading import Lock
from typing import Any

import numpy as np

from app.domain.codecs.base import RGB8


@dataclass(frozen=True)
class Backbone:
    file_name: str
    url: str

    @property
    def sha256_prefix(self) -> str:
        return self.file_name.rsplit("-", 1)[1].split(".")[0]


BACKBONES = {
    "lpips_alex": Backbone(
        "alexnet-owt-7be5be79.pth", "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
    ),
    "dists": Backbone(
        "vgg16-397923af.pth", "https://download.pytorch.org/models/vgg16-397923af.pth"
    ),
}
"""Metric name (as stored in a result's metrics) -> the backbone file it needs."""


@dataclass(frozen=True)
class Availability:
    name: str
    path: Path | None
    reason: str
    """Empty when available; else why not, naming the file and where its owner publishes it."""

    @property
    def available(self) -> bool:
        return self.path is not None


def _search_folders(weights_dir: Path) -> list[Path]:
    torch_home = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch"))
    return [weights_dir, torch_home / "hub" / "checkpoints"]


def availability(name: str, weights_dir: Path) -> Availability:
    from app.domain.codecs.learned import sha256_of, torch_available

    backbone = BACKBONES[name]
    if not torch_available():
        return Availability(name, None, "needs the neural extra (torch, torchvision)")
    for folder in _search_folders(weights_dir):
        path = folder.expanduser() / backbone.file_name
        if not path.is_file():
            continue
        actual = sha256_of(path)
        if not actual.startswith(backbone.sha256_prefix):
            return Availability(
                name,
                None,
                f"{path}: sha256 {actual[:8]}... does not match the "
                f"{backbone.sha256_prefix} in its name",
            )
        return Availability(name, path, "")
    folders = " or ".join(str(f) for f in _search_folders(weights_dir))
    return Availability(
        name, None, f"{backbone.file_name} not found in {folders} (published at {backbone.url})"
    )


def _to_tensor(rgb: RGB8, device: str) -> Any:
    import torch

    return (
        torch.from_numpy(np.ascontiguousarray(rgb))
        .permute(2, 0, 1)[None]
        .float()
        .div(255)
        .to(device)
    )


class Lpips:
    """LPIPS v0.1 with the AlexNet trunk (Zhang et al. 2018), via the ``lpips`` package."""

    name = "lpips_alex"

    def __init__(self, trunk_state_dict: dict[str, Any], device: str = "cpu") -> None:
        import lpips
        import torchvision

        alexnet = torchvision.models.alexnet(weights=None)
        alexnet.load_state_dict(trunk_state_dict)
        # pnet_rand builds the trunk without downloading; the local weights are copied in.
        model = lpips.LPIPS(net="alex", version="0.1", pnet_rand=True, verbose=False)
        slices = (model.net.slice1, model.net.slice2, model.net.slice3, model.net.slice4)
        for block in (*slices, model.net.slice5):
            for index, layer in block.named_children():  # named by their index in `features`
                layer.load_state_dict(alexnet.features[int(index)].state_dict())
        self.model = model.eval().to(device)
        self.device = device

    def __call__(self, original: RGB8, reconstruction: RGB8) -> float:
        import torch

        with torch.inference_mode():
            value = self.model(
                _to_tensor(original, self.device),
                _to_tensor(reconstruction, self.device),
                normalize=True,
            )
        return float(value.item())


class Dists:
    """DISTS (Ding et al. 2020): VGG16 features with L2 pooling, structure and texture terms
    weighted by the published alpha/beta (shipped in ``DISTS_pytorch``)."""

    name = "dists"
    CHANNELS = (3, 64, 128, 256, 512, 512)
    STAGES = ((0, 4), (5, 9), (10, 16), (17, 23), (24, 30))
    """VGG16 feature layers of each stage; the max pooling between stages is replaced."""

    def __init__(self, trunk_state_dict: dict[str, Any], device: str = "cpu") -> None:
        import torch
        import torchvision

        vgg = torchvision.models.vgg16(weights=None)
        vgg.load_state_dict(trunk_state_dict)
        self.stages = (
            torch.nn.ModuleList(
                torch.nn.Sequential(*vgg.features[start:end]) for start, end in self.STAGES
            )
            .to(device)
            .eval()
        )
        weights = torch.load(
            str(resources.files("DISTS_pytorch") / "weights.pt"), map_location=device
        )
        self.alpha, self.beta = weights["alpha"].to(device), weights["beta"].to(device)
        self.mean = torch.tensor([0.485, 0.456, 0.406], device=device).view(1, -1, 1, 1)
        self.std = torch.tensor([0.229, 0.224, 0.225], device=device).view(1, -1, 1, 1)
        window = torch.from_numpy(np.hanning(5)[1:-1]).float()
        kernel = window[:, None] * window[None, :]
        self.pooling_kernel = (kernel / kernel.sum())[None, None].to(device)
        self.device = device

    def _l2_pooling(self, x: Any) -> Any:
        """Hanning-window L2 pooling with stride 2: DISTS's alias-free max pooling."""
        import torch.nn.functional as F  # noqa: N812

        channels = x.shape[1]
        kernel = self.pooling_kernel.repeat(channels, 1, 1, 1)
        return (F.conv2d(x**2, kernel, stride=2, padding=1, groups=channels) + 1e-12).sqrt()

    def _features(self, x: Any) -> list[Any]:
        out = [x]
        h = (x - self.mean) / self.std
        for index, stage in enumerate(self.stages):
            h = stage(self._l2_pooling(h) if index else h)
            out.append(h)
        return out

    def __call__(self, original: RGB8, reconstruction: RGB8) -> float:
        import torch

        with torch.inference_mode():
            feats_x = self._features(_to_tensor(original, self.device))
            feats_y = self._features(_to_tensor(reconstruction, self.device))
            total = self.alpha.sum() + self.beta.sum()
            alphas = torch.split(self.alpha / total, list(self.CHANNELS), dim=1)
            betas = torch.split(self.beta / total, list(self.CHANNELS), dim=1)
            similarity = torch.zeros((), device=self.device)
            c = 1e-6
            for fx, fy, alpha, beta in zip(feats_x, feats_y, alphas, betas, strict=True):
                mx, my = fx.mean([2, 3], keepdim=True), fy.mean([2, 3], keepdim=True)
                structure = (2 * mx * my + c) / (mx**2 + my**2 + c)
                vx = ((fx - mx) ** 2).mean([2, 3], keepdim=True)
                vy = ((fy - my) ** 2).mean([2, 3], keepdim=True)
                cov = (fx * fy).mean([2, 3], keepdim=True) - mx * my
                texture = (2 * cov + c) / (vx + vy + c)
                similarity = similarity + (alpha * structure).sum() + (beta * texture).sum()
            return float(1 - similarity)


METRIC_CLASSES: dict[str, Any] = {"lpips_alex": Lpips, "dists": Dists}


class PerceptualMetrics:
    """The perceptual metrics whose backbones are present, built once per worker process."""

    def __init__(self, weights_dir: Path, device: str = "cpu") -> None:
        self.status = {name: availability(name, weights_dir) for name in BACKBONES}
        self.device = device
        self._metrics: dict[str, Any] = {}
        self._lock = Lock()  # the reconstruction and its JPEG are measured on two threads

    def _metric(self, name: str) -> Any:
        with self._lock:
            return self._metrics.get(name) or self._build(name)

    def _build(self, name: str) -> Any:
        import torch

        path = self.status[name].path
        assert path is not None
        state = torch.load(path, map_location="cpu", weights_only=True)
        self._metrics[name] = METRIC_CLASSES[name](state, self.device)
        return self._metrics[name]

    def measure(self, original: RGB8, reconstruction: RGB8) -> dict[str, float]:
        return {
            name: round(self._metric(name)(original, reconstruction), 6)
            for name, status in self.status.items()
            if status.available
        }

    def unavailable(self) -> dict[str, str]:
        return {name: s.reason for name, s in self.status.items() if not s.available}
