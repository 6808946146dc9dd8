"""`miscomp codecs fetch` against a publisher on loopback: a good file lands where its codec
looks, a corrupt one is refused and nothing is kept, a cut connection resumes with a Range
request, and an unreachable publisher is named as such."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from app.codec_weights.download import fetch_file, target_path
from app.domain.codecs import catalogue
from app.domain.codecs.catalogue import OperatorCatalogue
from app.domain.codecs.learned import zoo_weights_file
from app.errors import UserError
from tests.codec_weights.helpers import (
    METAGRAPH,
    files_under,
    loopback_publisher,
    sha256,
    write_weights_catalogue,
)

HIFIC_LO = catalogue.select("hific", None, ("lo",))[0]
HYPERPRIOR_1 = catalogue.compressai_file("bmshj2018-hyperprior", "mse", 1)


def test_a_good_file_is_verified_and_lands_where_its_codec_looks(tmp_path: Path) -> None:
    with loopback_publisher() as publisher:
        publisher.files[HIFIC_LO.file_name] = METAGRAPH
        operator = OperatorCatalogue(
            publishers={"tfci": publisher.url}, pins={HIFIC_LO.file_name: sha256(METAGRAPH)}
        )
        seen: list[tuple[int, int | None]] = []
        fetched = fetch_file(
            HIFIC_LO, tmp_path, operator, progress=lambda d, t: seen.append((d, t))
        )
        assert fetched.path == tmp_path / "tfc_metagraphs" / "hific-lo.metagraph"
        assert fetched.path.read_bytes() == METAGRAPH and not fetched.already_present
        assert fetched.sha256 == sha256(METAGRAPH) and fetched.resumed_from == 0
        assert seen[-1] == (len(METAGRAPH), len(METAGRAPH))
        assert files_under(tmp_path) == ["tfc_metagraphs/hific-lo.metagraph"]
        # Asked again: verified where it is, not downloaded again.
        again = fetch_file(HIFIC_LO, tmp_path, operator)
        assert again.already_present and len(publisher.requests) == 1
    # CompressAI's files land in the weights folder itself, under the name the codec opens.
    assert (
        target_path(HYPERPRIOR_1, tmp_path)
        == tmp_path / zoo_weights_file("bmshj2018-hyperprior", "mse", 1)[0]
    )


def test_a_corrupt_file_is_refused_and_nothing_is_kept(tmp_path: Path) -> None:
    with loopback_publisher() as publisher:
        publisher.files[HYPERPRIOR_1.file_name] = b"not the published weights" * 100
        operator = OperatorCatalogue(publishers={"compressai": publisher.url})
        with pytest.raises(UserError) as refused:
            fetch_file(HYPERPRIOR_1, tmp_path, operator)
    assert "sha256" in refused.value.message and "7eb97409" in refused.value.message
    assert "nothing was kept" in refused.value.message
    assert files_under(tmp_path) == []


def test_a_cut_connection_resumes_with_a_range_request(tmp_path: Path) -> None:
    with loopback_publisher() as publisher:
        publisher.files[HIFIC_LO.file_name] = METAGRAPH
        publisher.cut_after[HIFIC_LO.file_name] = 100_000
        operator = OperatorCatalogue(
            publishers={"tfci": publisher.url}, pins={HIFIC_LO.file_name: sha256(METAGRAPH)}
        )
        with pytest.raises(UserError) as cut:
            fetch_file(HIFIC_LO, tmp_path, operator)
        assert "was cut after 100,000 of 307,200 bytes" in cut.value.message
        assert "fetch again to resume" in cut.value.message
        assert files_under(tmp_path) == ["tfc_metagraphs/hific-lo.metagraph.part"]

        fetched = fetch_file(HIFIC_LO, tmp_path, operator)
        assert [r for _, r in publisher.requests] == [None, "bytes=100000-"]
    assert fetched.resumed_from == 100_000 and fetched.path.read_bytes() == METAGRAPH
    assert files_under(tmp_path) == ["tfc_metagraphs/hific-lo.metagraph"]


def test_an_unreachable_publisher_or_a_missing_file_is_said_plainly(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    operator = OperatorCatalogue(publishers={"compressai": closed})
    with pytest.raises(UserError) as unreachable:
        fetch_file(HYPERPRIOR_1, tmp_path, operator, timeout_s=5)
    assert "cannot reach 127.0.0.1" in unreachable.value.message
    assert "this machine cannot reach the publisher" in unreachable.value.message
    with loopback_publisher() as publisher:
        operator = OperatorCatalogue(publishers={"compressai": publisher.url})
        with pytest.raises(UserError, match="HTTP 404"):
            fetch_file(HYPERPRIOR_1, tmp_path, operator)
    assert files_under(tmp_path) == []


def test_hific_is_fetched_only_once_pinned(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="publishes no sha256 of hific-lo.metagraph"):
        fetch_file(HIFIC_LO, tmp_path, OperatorCatalogue())
    assert files_under(tmp_path) == []


def miscomp(var: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MISCOMP_")}
    env["MISCOMP_VAR_DIR"] = str(var)
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_the_command_fetches_into_the_weights_folder_and_refuses_a_mismatch(
    tmp_path: Path,
) -> None:
    with loopback_publisher() as publisher:
        publisher.files[HIFIC_LO.file_name] = METAGRAPH
        publisher.files[HYPERPRIOR_1.file_name] = b"corrupt"
        write_weights_catalogue(
            tmp_path / "weights-catalogue.toml",
            publishers={"tfci": publisher.url, "compressai": publisher.url},
            pins={HIFIC_LO.file_name: sha256(METAGRAPH)},
        )
        good = miscomp(tmp_path, "codecs", "fetch", "hific", "--quality", "lo")
        assert good.returncode == 0, good.stderr
        assert "fetched" in good.stdout and "verified" in good.stdout
        assert (tmp_path / "weights/tfc_metagraphs/hific-lo.metagraph").read_bytes() == METAGRAPH

        bad = miscomp(tmp_path, "codecs", "fetch", "bmshj2018-hyperprior", "--quality", "1")
        assert bad.returncode == 1
        assert bad.stderr.startswith("error: bmshj2018-hyperprior-1-7eb97409.pth.tar: the ")
        assert "Traceback" not in bad.stderr
        unknown = miscomp(tmp_path, "codecs", "fetch", "mbt2018", "--quality", "9")
        assert unknown.returncode == 1 and "mbt2018 has no quality 9" in unknown.stderr
    assert files_under(tmp_path / "weights") == ["tfc_metagraphs/hific-lo.metagraph"]
