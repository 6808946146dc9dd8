"""The published weights `miscomp codecs fetch` may download: where each file lives in the
operator's weights folder, where its owner publishes it, and the sha256 it must have.

Pure standard library, no network: the web process lists this catalogue and a worker or the
CLI downloads from it (``app/codec_weights/download.py``). A request only ever picks an entry
by model, metric and quality; what is downloaded, from where, and the hash it must have are
fixed here and in the operator's catalogue file, never sent by a client.

CompressAI names each file after the first 8 hex digits of its sha256 (torch.hub checks them
the same way): that prefix is the published hash. tensorflow-compression publishes no hash of
its metagraphs, so a HiFiC metagraph is fetched only once the operator pins its full sha256
in the catalogue file (``MISCOMP_WEIGHTS_CATALOGUE``), which may also pin CompressAI files
and point each publisher at a mirror::

    [publishers]
    compressai = "https://mirror.lab.example/compressai/models/v1"
    tfci = "https://mirror.lab.example/tfc/metagraphs"

    [pins]
    "hific-lo.metagraph" = "<64 hex digits>"
    "bmshj2018-hyperprior-1-7eb97409.pth.tar" = "7eb97409<56 more hex digits>"
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

COMPRESSAI = "compressai"
TFCI = "tfci"
PUBLISHERS: dict[str, str] = {
    COMPRESSAI: "https://compressai.s3.amazonaws.com/models/v1",
    TFCI: "https://storage.googleapis.com/tensorflow_compression/metagraphs",
}
"""Each publisher's own address (the base of its files' URLs)."""
PUBLISHER_NAMES = {COMPRESSAI: "CompressAI", TFCI: "tensorflow-compression"}
METAGRAPH_FOLDER = "tfc_metagraphs"
"""Sub-folder of the weights folder holding tfci.py's metagraph cache
(``tfci.py --metagraph_cache WEIGHTS_DIR/tfc_metagraphs``)."""
COMPRESSAI_METRICS = ("mse", "ms-ssim")
DEFAULT_METRIC = "mse"

# (arch, metric): (file name stem, published sha256 prefix of quality 1, 2, ...); the file is
# f"{stem}-{quality}-{prefix}.pth.tar", as compressai.zoo.image.model_urls names it
# (tests/domain/test_weights_catalogue.py checks the two agree).
_COMPRESSAI: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {
    ("bmshj2018-factorized", "mse"): ("bmshj2018-factorized-prior", ("446d5c7f", "87279a02", "5c6f152b", "1ed4405a", "866ba797", "9b02ea3a", "6dfd6734", "5232faa3")),  # noqa: E501
    ("bmshj2018-factorized", "ms-ssim"): ("bmshj2018-factorized-ms-ssim", ("9781d705", "4a584386", "5352f123", "4f91b847", "b3a88897", "ee028763", "8c265a29", "8811bd14")),  # noqa: E501
    ("bmshj2018-hyperprior", "mse"): ("bmshj2018-hyperprior", ("7eb97409", "93677231", "6d87be32", "de1b779c", "f8b614e1", "1ab9c41e", "3804dcbd", "a583f0cf")),  # noqa: E501
    ("bmshj2018-hyperprior", "ms-ssim"): ("bmshj2018-hyperprior-ms-ssim", ("5cf249be", "1ff60d1f", "92dd7878", "4377354e", "c34afc8d", "3a6d8229", "8747d3bc", "cc15b5f3")),  # noqa: E501
    ("mbt2018-mean", "mse"): ("mbt2018-mean", ("e522738d", "e54a039d", "723404a8", "6dba02a3", "d504e8eb", "a19628ab", "d5d441d1", "8089ae3e")),  # noqa: E501
    ("mbt2018-mean", "ms-ssim"): ("mbt2018-mean-ms-ssim", ("5bf9c0b6", "e2a1bf3f", "640ce819", "12626c13", "1be7f059", "b83bf379", "ddf9644c", "0cc7b94f")),  # noqa: E501
    ("mbt2018", "mse"): ("mbt2018", ("3f36cd77", "43b70cdd", "22901978", "456e2af9", "b4a046dd", "7052e5ea", "8ba2bf82", "dd0097aa")),  # noqa: E501
    ("mbt2018", "ms-ssim"): ("mbt2018-ms-ssim", ("2878436b", "c41cb208", "d0dd64e8", "a120e037", "9b30e3b7", "f8b3626f", "16e6ff50", "0cb49d43")),  # noqa: E501
    ("cheng2020-anchor", "mse"): ("cheng2020-anchor", ("dad2ebff", "a29008eb", "e49be189", "98b0b468", "23852949", "4c052b1a")),  # noqa: E501
    ("cheng2020-anchor", "ms-ssim"): ("cheng2020_anchor-ms-ssim", ("20f521db", "c7ff5812", "c23e22d5", "0e658304", "c0a95e77", "f2dc1913")),  # noqa: E501
    ("cheng2020-attn", "mse"): ("cheng2020_attn-mse", ("465f2b64", "e0805385", "2d07bbdf", "f7b0ccf2", "26c8920e", "730501f2")),  # noqa: E501
    ("cheng2020-attn", "ms-ssim"): ("cheng2020_attn-ms-ssim", ("c5381d91", "5dad201d", "5c9be841", "8b2f647e", "5ca1f34c", "216423ec")),  # noqa: E501
}  # fmt: skip
HIFIC = "hific"
HIFIC_QUALITIES = ("lo", "mi", "hi")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class CatalogueError(ValueError):
    """An unknown model or quality, or an unusable operator catalogue file; the message says
    which and why."""


@dataclass(frozen=True)
class WeightsFile:
    """One published file, as the catalogue knows it."""

    model: str
    """``compressai`` arch (``bmshj2018-hyperprior``...) or ``hific``."""
    metric: str
    """``mse`` or ``ms-ssim`` for CompressAI; empty for HiFiC."""
    quality: str
    """``1``-``8`` (CompressAI) or ``lo``, ``mi``, ``hi`` (HiFiC)."""
    publisher: str
    file_name: str
    """As its owner publishes it (the last part of its URL)."""
    published_sha256: str
    """The hash its owner publishes: a prefix (CompressAI) or empty (none published)."""

    @property
    def path(self) -> str:
        """Where it lands, relative to the weights folder: where the codec that uses it
        looks (``CompressAICodec`` with an empty ``weights_dir``, tfci.py's cache)."""
        if self.publisher == TFCI:
            return str(PurePosixPath(METAGRAPH_FOLDER) / self.file_name)
        return self.file_name

    @property
    def label(self) -> str:
        metric = f" {self.metric}" if self.metric else ""
        return f"{self.model}{metric} quality {self.quality}"

    def url(self, base: str | None = None) -> str:
        return f"{(base or PUBLISHERS[self.publisher]).rstrip('/')}/{self.file_name}"


@dataclass(frozen=True)
class ModelWeights:
    """A model's files in one metric, one per quality (what a page offers as a row)."""

    model: str
    metric: str
    files: tuple[WeightsFile, ...]

    @property
    def qualities(self) -> tuple[str, ...]:
        return tuple(f.quality for f in self.files)


def _compressai_files(arch: str, metric: str) -> tuple[WeightsFile, ...]:
    stem, prefixes = _COMPRESSAI[arch, metric]
    return tuple(
        WeightsFile(
            model=arch,
            metric=metric,
            quality=str(quality),
            publisher=COMPRESSAI,
            file_name=f"{stem}-{quality}-{prefix}.pth.tar",
            published_sha256=prefix,
        )
        for quality, prefix in enumerate(prefixes, start=1)
    )


_MODELS: tuple[ModelWeights, ...] = (
    *(ModelWeights(arch, metric, _compressai_files(arch, metric)) for arch, metric in _COMPRESSAI),
    ModelWeights(
        HIFIC,
        "",
        tuple(WeightsFile(HIFIC, "", q, TFCI, f"hific-{q}.metagraph", "") for q in HIFIC_QUALITIES),
    ),
)
_BY_FILE_NAME: dict[str, WeightsFile] = {f.file_name: f for m in _MODELS for f in m.files}


def models() -> tuple[ModelWeights, ...]:
    return _MODELS


def model_names() -> list[str]:
    return list(dict.fromkeys(m.model for m in _MODELS))


def by_file_name(file_name: str) -> WeightsFile:
    try:
        return _BY_FILE_NAME[file_name]
    except KeyError:
        raise CatalogueError(f"no published weights file is named {file_name!r}") from None


def select(
    model: str, metric: str | None = None, qualities: tuple[str, ...] = ()
) -> list[WeightsFile]:
    """The files of ``model`` in ``metric`` (CompressAI's default ``mse`` when None), at
    ``qualities`` (all when empty), in quality order."""
    if model not in model_names():
        raise CatalogueError(
            f"no published weights for {model!r}; known: {', '.join(model_names())}"
        )
    if model == HIFIC:
        if metric:
            raise CatalogueError("hific has no metric to choose (leave out --metric)")
        metric = ""
    elif metric is None:
        metric = DEFAULT_METRIC
    chosen = next((m for m in _MODELS if m.model == model and m.metric == metric), None)
    if chosen is None:
        raise CatalogueError(
            f"{model} is published for the metrics {', '.join(COMPRESSAI_METRICS)}, not {metric!r}"
        )
    if not qualities:
        return list(chosen.files)
    unknown = [q for q in qualities if q not in chosen.qualities]
    if unknown:
        raise CatalogueError(
            f"{model} has no quality {', '.join(unknown)}; it has {', '.join(chosen.qualities)}"
        )
    wanted = set(qualities)
    return [f for f in chosen.files if f.quality in wanted]


def compressai_file(arch: str, metric: str, quality: int) -> WeightsFile:
    """The zoo file ``CompressAICodec`` loads for these parameters."""
    try:
        stem_and_prefixes = _COMPRESSAI[arch, metric]
        if not 1 <= quality <= len(stem_and_prefixes[1]):
            raise KeyError(quality)
    except KeyError:
        raise CatalogueError(
            f"CompressAI publishes no weights for {arch} {metric} quality {quality}"
        ) from None
    return _compressai_files(arch, metric)[quality - 1]


# The operator's catalogue file: mirrors and full sha256 pins.


@dataclass(frozen=True)
class OperatorCatalogue:
    publishers: dict[str, str] = field(default_factory=dict)
    """Base URL per publisher that replaces its own (a mirror, or a test's loopback server)."""
    pins: dict[str, str] = field(default_factory=dict)
    """Full sha256 by file name."""

    def base_url(self, weights: WeightsFile) -> str:
        return self.publishers.get(weights.publisher, PUBLISHERS[weights.publisher])

    def url(self, weights: WeightsFile) -> str:
        return weights.url(self.base_url(weights))

    def expected_sha256(self, weights: WeightsFile) -> str:
        """The full pin, else the published hash (a prefix); CatalogueError when neither
        exists, as nothing unverified is ever kept."""
        expected = self.pins.get(weights.file_name, weights.published_sha256)
        if not expected:
            raise CatalogueError(
                f"{PUBLISHER_NAMES[weights.publisher]} publishes no sha256 of "
                f"{weights.file_name}: pin the sha256 you trust under [pins] in the weights "
                f"catalogue file (MISCOMP_WEIGHTS_CATALOGUE) before fetching it"
            )
        return expected


def check_base_url(url: str, *, where: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CatalogueError(f"{where}: {url!r} is not an http:// or https:// address")
    return url


def load_operator_catalogue(path: Path | None) -> OperatorCatalogue:
    """The operator's ``[publishers]`` and ``[pins]`` (TOML); no file: none. Read again at
    every fetch, like the command-line codecs file."""
    if path is None or not path.exists():
        return OperatorCatalogue()
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CatalogueError(f"weights catalogue file {path}: {exc}") from None
    problems: list[str] = []
    unknown_tables = sorted(set(data) - {"publishers", "pins"})
    if unknown_tables:
        problems.append(f"unknown table {', '.join(unknown_tables)} (known: publishers, pins)")
    publishers: dict[str, str] = {}
    for name, url in _table(data, "publishers", problems).items():
        if name not in PUBLISHERS:
            problems.append(
                f"publishers.{name}: unknown publisher (known: {', '.join(PUBLISHERS)})"
            )
        elif not isinstance(url, str):
            problems.append(f"publishers.{name}: give the base URL as a string")
        else:
            try:
                publishers[name] = check_base_url(url, where=f"publishers.{name}")
            except CatalogueError as exc:
                problems.append(str(exc))
    pins: dict[str, str] = {}
    for file_name, sha256 in _table(data, "pins", problems).items():
        weights = _BY_FILE_NAME.get(file_name)
        if weights is None:
            problems.append(f"pins.{file_name}: no published weights file has this name")
        elif not isinstance(sha256, str) or not _SHA256.match(sha256):
            problems.append(f"pins.{file_name}: give the full sha256 (64 lower-case hex digits)")
        elif not sha256.startswith(weights.published_sha256):
            problems.append(
                f"pins.{file_name}: {sha256[:8]}... disagrees with the published "
                f"{weights.published_sha256}"
            )
        else:
            pins[file_name] = sha256
    if problems:
        raise CatalogueError(f"weights catalogue file {path}: {'; '.join(problems)}")
    return OperatorCatalogue(publishers=publishers, pins=pins)


def _table(data: dict[str, Any], name: str, problems: list[str]) -> dict[str, Any]:
    table = data.get(name, {})
    if not isinstance(table, dict):
        problems.append(f"{name}: expected a table")
        return {}
    return table
