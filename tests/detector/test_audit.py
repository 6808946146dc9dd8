"""`miscomp audit` on a fresh install, offline: a reconstruction whose sign reads "Gate 18"
where the original reads "Gate 88" is reported as a terminal report, JSON and a
self-contained HTML page, with the changed sign among the top regions and in the text OCR
reads differently; bad input is one clear line; `miscomp runs audit` ranks a run's images by
risk."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import Engine
from typer.testing import CliRunner

from app import cli
from app.domain.codecs import registry as codecs
from tests.studies.helpers import finished_run

pytest.importorskip("torch", reason="the detector needs torch (installed by make install)")

PLATE = (150, 118, 120, 40)
"""Where the sign's text is drawn: x, y, width, height."""


def _pair(folder: Path) -> tuple[Path, Path]:
    """A light textured wall with a sign reading "Gate 88"; the reconstruction (JPEG quality
    40) of the same wall whose sign reads "Gate 18"."""
    from PIL import ImageDraw, ImageFont

    rng = np.random.default_rng(4)
    yy, xx = np.mgrid[0:288, 0:384] / 384
    scene = np.stack([200 + 40 * xx, 190 + 40 * yy, 180 + 30 * xx], axis=2)
    scene = np.clip(scene + rng.normal(0, 6, scene.shape), 0, 255).astype(np.uint8)

    def with_sign(text: str) -> Image.Image:
        image = Image.fromarray(scene)
        font = ImageFont.load_default(size=32)
        ImageDraw.Draw(image).text(PLATE[:2], text, font=font, fill=(20, 20, 30))
        return image

    original = folder / "original.png"
    with_sign("Gate 88").save(original)
    changed = np.asarray(with_sign("Gate 18"), dtype=np.uint8)
    reconstruction = folder / "reconstruction.png"
    jpeg = codecs.build("jpeg", quality=40).encode_decode(changed).reconstruction
    Image.fromarray(jpeg).save(reconstruction)
    return original, reconstruction


def _overlaps_plate(region: dict[str, int]) -> bool:
    x, y, w, h = PLATE
    size = region["size"]
    return (
        region["x"] < x + w
        and x < region["x"] + size
        and region["y"] < y + h
        and y < region["y"] + size
    )


def test_audit_reports_the_changed_plate_in_the_terminal_as_json_and_as_html(
    tmp_path: Path,
) -> None:
    original, reconstruction = _pair(tmp_path)
    runner = CliRunner()
    shown = runner.invoke(cli.app, ["audit", str(original), str(reconstruction)])
    assert shown.exit_code == 0, shown.output
    assert "384 x 288 pixels; risk" in shown.output and "psnr_rgb" in shown.output
    assert "'88' -> '18' (changed)" in shown.output

    as_json = runner.invoke(
        cli.app, ["audit", str(original), str(reconstruction), "--json", "--regions", "5"]
    )
    assert as_json.exit_code == 0, as_json.output
    report = json.loads(as_json.output)
    assert len(report["regions"]) == 5
    assert report["risk"] == report["regions"][0]["scores"]["miscompression"]
    scores = [r["scores"]["miscompression"] for r in report["regions"]]
    assert scores == sorted(scores, reverse=True)
    assert set(report["regions"][0]["scores"]) == {
        "miscompression", "amplitude", "geometry", "shape", "symbol"
    }  # fmt: skip
    assert any(_overlaps_plate(r) for r in report["regions"][:3]), report["regions"]
    (change,) = [c for c in report["text_changes"] if c["before"] == "88"]
    assert change["after"] == "18" and change["kind"] == "changed"
    assert report["metrics"]["psnr_rgb"] > 20 and report["detector"]["name"]

    page = tmp_path / "audit.html"
    written = runner.invoke(
        cli.app,
        ["audit", str(original), str(reconstruction), "--html", str(page), "--regions", "3",
         "--no-ocr"],
    )  # fmt: skip
    assert written.exit_code == 0, written.output
    html = page.read_text()
    assert html.count('data-testid="region"') == 3
    # Nothing fetched: the viewer's pair and score map, the score map and the difference
    # shown whole, each region's three crops; the viewer's script inline.
    assert html.count("data:image/png;base64,") == 3 + 2 + 3 * 3
    assert "<script src" not in html and 'id="viewer-data"' in html
    assert html.count('data-testid="show-region"') == 3
    assert "http://" not in html and "https://" not in html
    assert "image-rendering: pixelated" in html and 'width="256"' in html  # 64 px at 4x
    assert "OCR not asked for" in html


def test_audit_refuses_bad_input_in_one_line(tmp_path: Path) -> None:
    original, reconstruction = _pair(tmp_path)
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(original.read_bytes()[:200])
    smaller = tmp_path / "smaller.png"
    Image.open(original).crop((0, 0, 100, 100)).save(smaller)
    runner = CliRunner()
    for args, message in [
        ([str(tmp_path / "none.png"), str(reconstruction)], "no such file"),
        ([str(corrupt), str(reconstruction)], "corrupt"),
        ([str(original), str(smaller)], "two images of one size"),
        ([str(original), str(reconstruction), "--model", str(tmp_path / "x.pt")], "no detector"),
        ([str(original), str(reconstruction), "--regions", "0"], "regions"),
    ]:
        refused = runner.invoke(cli.app, ["audit", *args])
        assert refused.exit_code != 0 and message in refused.output, (args, refused.output)
        assert "Traceback" not in refused.output


def test_runs_audit_ranks_a_runs_images_by_risk(committed_db: Engine) -> None:
    run_id = finished_run(committed_db)
    runner = CliRunner()
    ranked = runner.invoke(cli.app, ["runs", "audit", str(run_id), "--json"])
    assert ranked.exit_code == 0, ranked.output
    report = json.loads(ranked.output[ranked.output.index("{") :])
    images = report["images"]
    assert sorted(i["image"] for i in images) == ["plate.png", "top-left.png"]
    assert [i["risk"] for i in images] == sorted((i["risk"] for i in images), reverse=True)
    assert all(i["bpp"] > 0 and i["regions"] for i in images)
    table = runner.invoke(cli.app, ["runs", "audit", str(run_id)])
    assert table.exit_code == 0 and "riskiest first" in table.output
    for missing in ("999999", "12345678901234567890"):
        refused = runner.invoke(cli.app, ["runs", "audit", missing])
        assert refused.exit_code != 0 and "Traceback" not in refused.output, refused.output
