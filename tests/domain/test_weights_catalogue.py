"""The weights catalogue: CompressAI's own file names and hashes, HiFiC's metagraphs, and the
operator's mirrors and pins, refused with the reason when they cannot be used."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.domain.codecs import catalogue
from app.domain.codecs.catalogue import CatalogueError, load_operator_catalogue
from app.domain.codecs.learned import ZOO_QUALITIES


def test_the_catalogue_is_compressais_zoo() -> None:
    """Every zoo file under CompressAI's own name and URL, so a fetched file is the one
    CompressAICodec opens (torch.hub checks the same 8-digit prefix)."""
    image_zoo = pytest.importorskip("compressai.zoo.image")
    ours = {
        (f.model, f.metric, int(f.quality)): f.url()
        for m in catalogue.models()
        for f in m.files
        if f.publisher == catalogue.COMPRESSAI
    }
    theirs = {
        (arch, metric, quality): url
        for arch, metrics in image_zoo.model_urls.items()
        for metric, urls in metrics.items()
        for quality, url in urls.items()
    }
    assert ours == theirs
    for (arch, _, quality), url in ours.items():
        assert quality in ZOO_QUALITIES[arch]
        assert catalogue.by_file_name(url.rsplit("/", 1)[1]).published_sha256 in url


def test_entries_are_picked_by_model_metric_and_quality() -> None:
    picked = catalogue.select("mbt2018-mean", "ms-ssim", ("2", "1"))
    assert [f.file_name for f in picked] == [
        "mbt2018-mean-ms-ssim-1-5bf9c0b6.pth.tar",
        "mbt2018-mean-ms-ssim-2-e2a1bf3f.pth.tar",
    ]
    assert len(catalogue.select("cheng2020-attn")) == 6  # mse by default, every quality
    hific = catalogue.select("hific")
    assert [f.path for f in hific] == [
        f"tfc_metagraphs/hific-{q}.metagraph" for q in ("lo", "mi", "hi")
    ]
    assert all(f.published_sha256 == "" for f in hific)
    for model, metric, qualities, message in [
        ("jpeg", None, (), "no published weights for 'jpeg'"),
        ("mbt2018", "psnr", (), "not 'psnr'"),
        ("cheng2020-anchor", None, ("7",), "cheng2020-anchor has no quality 7"),
        ("hific", "mse", (), "hific has no metric"),
    ]:
        with pytest.raises(CatalogueError, match=message):
            catalogue.select(model, metric, qualities)


def test_the_operator_pins_hashes_and_names_mirrors(tmp_path: Path) -> None:
    full = "7eb97409" + "0" * 56
    path = tmp_path / "weights-catalogue.toml"
    path.write_text(
        '[publishers]\ntfci = "http://127.0.0.1:9/m"\n\n'
        f'[pins]\n"hific-mi.metagraph" = "{"a" * 64}"\n'
        f'"bmshj2018-hyperprior-1-7eb97409.pth.tar" = "{full}"\n'
    )
    operator = load_operator_catalogue(path)
    hific_mi = catalogue.by_file_name("hific-mi.metagraph")
    assert operator.url(hific_mi) == "http://127.0.0.1:9/m/hific-mi.metagraph"
    assert operator.expected_sha256(hific_mi) == "a" * 64
    hyperprior = catalogue.compressai_file("bmshj2018-hyperprior", "mse", 1)
    assert operator.expected_sha256(hyperprior) == full
    assert operator.url(hyperprior) == (
        "https://compressai.s3.amazonaws.com/models/v1/bmshj2018-hyperprior-1-7eb97409.pth.tar"
    )
    with pytest.raises(CatalogueError, match="pin the sha256"):
        operator.expected_sha256(catalogue.by_file_name("hific-lo.metagraph"))
    assert load_operator_catalogue(tmp_path / "absent.toml") == catalogue.OperatorCatalogue()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('[publishers]\ncompressai = "file:///etc"', "not an http:// or https:// address"),
        ('[publishers]\nelsewhere = "https://x.example"', "unknown publisher"),
        ('[pins]\n"hific-lo.metagraph" = "abc"', "full sha256"),
        ('[pins]\n"mystery.bin" = "' + "a" * 64 + '"', "no published weights file"),
        (
            '[pins]\n"bmshj2018-hyperprior-1-7eb97409.pth.tar" = "' + "a" * 64 + '"',
            "disagrees with the published 7eb97409",
        ),
        ("[urls]\n", "unknown table urls"),
        ("[pins", "weights catalogue file"),
    ],
)
def test_an_unusable_catalogue_file_says_why(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "weights-catalogue.toml"
    path.write_text(text)
    with pytest.raises(CatalogueError, match=reason):
        load_operator_catalogue(path)
