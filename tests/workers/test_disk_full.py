"""Issue 18: the media disk fills up while a run writes its artefacts. The image whose
artefacts do not fit fails with a reason naming the full disk, nothing half-written is left
under a valid key, and the run goes on with the rest and finishes.

The worker runs in a mount namespace of its own (``unshare``), where small tmpfs mounts lie
over the folders that reconstructions and maps are written to; the originals beside them stay
readable. Nothing outside the worker sees the mounts, and they vanish with it, however the
test ends. The test reads the worker's view of the media folder through ``/proc/PID/root``.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path, PurePosixPath

import numpy as np
import pytest
from PIL import Image as PILImage
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.codec_runs import service
from app.codec_runs.schemas import RunCreate
from app.config import get_settings
from tests.factories import make_dataset, store_image
from tests.workers.helpers import results_of, run_status, stop_process, wait_for

pytestmark = pytest.mark.worker

# Sizes measured for JPEG at quality 10 on smooth noise (tests/workers/test_disk_full.py's
# images): a 1600 x 1200 reconstruction is 4.4 MB as PNG, an 800 x 600 one 1.1 MB, and its
# smallest map 0.3 MB; every artefact of a 64 x 48 image together is under 30 kB.
RECON_MOUNT = "2m"
"""Holds the small and the medium image's reconstructions, never the large one's."""
MAPS_MOUNT = "192k"
"""Holds every map of the three small images, and no single map of the medium one, in any
order the worker writes them (so no partial set of the medium's maps can crowd them out)."""
FULL_DISK = "no space left on the device holding the media folder: a file of "

NAMESPACE_PREFIXES = (
    ["unshare", "--mount"],
    ["unshare", "--user", "--map-root-user", "--mount"],
)
"""As root, a mount namespace; otherwise an unprivileged user namespace mapped to root."""


def _mounting_namespace() -> list[str]:
    """The first ``unshare`` prefix under which a tmpfs can be mounted here."""
    probe = tempfile.mkdtemp(prefix="miscomp-mount-probe-")
    try:
        for prefix in NAMESPACE_PREFIXES:
            try:
                tried = subprocess.run(
                    [*prefix, "mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", probe],
                    capture_output=True,
                    timeout=30,
                    check=False,
                )
            except OSError:
                continue
            if tried.returncode == 0:
                return prefix
    finally:
        os.rmdir(probe)
    pytest.skip(
        "a full disk is simulated with a tmpfs mounted in a mount namespace, which needs root "
        "(CAP_SYS_ADMIN) or unprivileged user namespaces: this machine allows neither"
    )


def _start_worker_on_small_mounts(prefix: list[str], media: Path) -> subprocess.Popen[bytes]:
    """A real worker whose ``recon/`` and ``maps/`` media folders are small tmpfs mounts."""
    script = 'mount -t tmpfs -o "size=$1" tmpfs "$2" && mount -t tmpfs -o "size=$3" tmpfs "$4"'
    script += ' && shift 4 && exec "$@"'
    mounts = [RECON_MOUNT, str(media / "recon"), MAPS_MOUNT, str(media / "maps")]
    worker = [sys.executable, "-m", "app.cli", "worker", "--queues=cpu,gpu,post"]
    return subprocess.Popen(
        [*prefix, "sh", "-c", script, "sh", *mounts, *worker, "--concurrency=1"],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _smooth_noise(rng: np.random.Generator, width: int, height: int) -> PILImage.Image:
    """A photograph-like image that JPEG compresses but not to nothing."""
    coarse = rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    return PILImage.fromarray(coarse).resize((width, height), PILImage.Resampling.BICUBIC)


def _content_addressed_files(folder: Path) -> dict[str, str]:
    """Every file under ``folder``: its name, and the sha256 of what it holds."""
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in folder.rglob("*")
        if path.is_file()
    }


@pytest.mark.timeout(120)
def test_a_full_media_disk_fails_the_image_that_does_not_fit_and_the_run_goes_on(
    committed_db: Engine,
) -> None:
    prefix = _mounting_namespace()
    rng = np.random.default_rng(18)
    sizes = {"large": (1600, 1200), "medium": (800, 600)}
    sizes.update({f"small-{i}": (64, 48) for i in range(3)})
    with Session(committed_db, expire_on_commit=False) as session:
        dataset = make_dataset(session, f"disk-full-{uuid.uuid4().hex[:8]}")
        image_ids = {
            name: store_image(session, dataset.id, _smooth_noise(rng, *size), f"{name}.png").id
            for name, size in sizes.items()
        }
        run_id = service.create_run(
            session,
            RunCreate(dataset_id=dataset.id, codec="jpeg", params={"quality": 10}),
            actor=None,
        ).id
        session.commit()  # queues the run's tasks on the broker
    media = get_settings().media_root
    for folder in ("recon", "maps"):
        (media / folder).mkdir(parents=True, exist_ok=True)
    worker = _start_worker_on_small_mounts(prefix, media)
    try:
        wait_for(lambda: run_status(committed_db, run_id) == "done", 60, "the run to finish")
        # The media folder as the worker sees it, small mounts and all.
        seen = Path(f"/proc/{worker.pid}/root") / media.relative_to("/")
        by_image = {r.image_id: r for r in results_of(committed_db, run_id)}
        named = {name: by_image[image_id] for name, image_id in image_ids.items()}

        large, medium = named.pop("large"), named.pop("medium")
        # The large reconstruction did not fit: the encode step failed the image.
        assert large.status == "failed" and (large.error or "").startswith(FULL_DISK), large
        assert large.recon_key is None and large.maps == {} and large.metrics == {}
        # The medium one's reconstruction fitted and none of its maps did: the
        # post-processing step failed it, naming no map and keeping no figure.
        assert medium.status == "failed" and (medium.error or "").startswith(FULL_DISK), medium
        assert medium.recon_key is not None and (seen / medium.recon_key).is_file()
        assert medium.maps == {} and medium.metrics == {}
        for small in named.values():
            assert small.status == "done", small.error
            assert small.metrics["psnr_rgb"] > 0
            maps = [key for kind, key in small.maps.items() if kind != "difference_gain"]
            assert len(maps) == 5  # difference, and the SSIM and CIEDE2000 maps with raw values
            for key in (small.recon_key, *maps):
                assert isinstance(key, str) and (seen / key).is_file(), key

        # Nothing half-written: every file on the full disks holds exactly the bytes its
        # content address names (no torn file, no leftover temporary file).
        for folder in ("recon", "maps"):
            files = _content_addressed_files(seen / folder)
            assert files, f"the worker wrote nothing under {folder}/"
            for name, digest in files.items():
                assert PurePosixPath(name).stem == digest, f"{folder}/{name} is not whole"
    finally:
        stop_process(worker, signal.SIGTERM)
    # The mounts were the worker's alone: the media folder outside holds none of its writes.
    assert not (media / medium.recon_key).exists()
