"""The detector against the other proposal methods, on what it never saw.

Images: windows of the photographs the detector's training held out (every fifth of
``--photos``, by name; ``app/detector/data.split``). Glyphs: fonts it never saw (training
drew with Pillow's built-in font; here DejaVu and Liberation, from Debian's fonts-dejavu-core
and fonts-liberation). Each image gets one change of meaning, in one of three families:

- ``page``: a page, form or set of plates over most of the image, lines of characters in a
  held-out font, every glyph carrying compression error; one character becomes another.
- ``texture``: a small lamp or shape inside the most textured part of the photograph, which
  goes out, disappears or moves a few pixels.
- ``easy``: a lone line of digits on the photograph with one digit changed (the issue's
  easy case: the most distorted region anyway).

The changed version is coded by each codec (the shipped neural ``miscomp-mbt-low`` and JPEG),
the original is kept, and each method ranks crops of 64 px of the pair: the detector (its
top regions), the distortion-guided crops (the run's three maps normalised per codec, as the
``guided`` method does), the OCR text crops, and random crops. A proposal finds the change
when its crop covers at least half of the changed pixels. Prints recall within the top 1, 5
and 10 with Wilson 95 % intervals per family, codec and method, and for the hard families
the paired difference between the detector and the best other method (bootstrap 95 %).

    .venv/bin/python bench/detector_bench.py [--photos ../shared/datasets/wikipedia-photos]
        [--per-photo 4] [--model FILE] [--out var/detector-bench.json]
"""

from __future__ import annotations

import argparse
import json
import math
import string
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.detector import audit, data, model  # noqa: E402
from app.domain import crops, metrics, plants  # noqa: E402
from app.domain.codecs import registry  # noqa: E402
from app.domain.ocr import TesseractOcr  # noqa: E402

RGB8 = np.ndarray
WINDOW = (512, 384)
SIZE = 64
KS = (1, 5, 10)
FAMILIES = ("page", "texture", "easy")
HARD = ("page", "texture")
FONT_FILES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationMono-Regular.ttf",
)
METHODS = ("detector", "guided", "text", "random")


def _fonts() -> list[str]:
    found = [f for f in FONT_FILES if Path(f).is_file()]
    if not found:
        raise SystemExit(
            "no held-out fonts: install Debian's fonts-dejavu-core and fonts-liberation "
            "(`make install system` does)"
        )
    return found


def _window(photo: RGB8, rng: np.random.Generator) -> RGB8:
    width, height = WINDOW
    if photo.shape[0] < height or photo.shape[1] < width:
        image = Image.fromarray(photo).resize((width, height), Image.Resampling.LANCZOS)
        return np.asarray(image, dtype=np.uint8)
    y = int(rng.integers(0, photo.shape[0] - height + 1))
    x = int(rng.integers(0, photo.shape[1] - width + 1))
    return np.ascontiguousarray(photo[y : y + height, x : x + width])


def _lines(
    base: RGB8,
    lines: list[tuple[int, int, str]],
    font: ImageFont.FreeTypeFont,
    ink: tuple[int, int, int],
    panels: list[tuple[int, int, int, int]],
) -> RGB8:
    """``base`` with light panels and lines of characters in fixed-width cells (a changed
    character does not move its neighbours)."""
    image = Image.fromarray(base)
    draw = ImageDraw.Draw(image)
    for panel in panels:
        draw.rectangle(panel, fill=(246, 244, 236))
    cell = max(font.getlength(c) for c in string.digits + string.ascii_uppercase)
    for x, y, text in lines:
        for at, character in enumerate(text):
            left = x + at * cell + (cell - font.getlength(character)) / 2
            draw.text((left, y), character, font=font, fill=ink)
    return np.asarray(image, dtype=np.uint8)


def _text(rng: np.random.Generator, length: int, digits_share: float = 0.6) -> str:
    pool = string.digits if rng.random() < digits_share else string.ascii_uppercase + " "
    return "".join(rng.choice(list(pool), length))


def _changed(text: str, rng: np.random.Generator) -> tuple[str, int]:
    """``text`` with one character another (half the time one that looks like it)."""
    places = [i for i, c in enumerate(text) if c != " "]
    index = int(rng.choice(places))
    return text[:index] + plants.other_character(text[index], rng) + text[index + 1 :], index


def page_case(photo: RGB8, rng: np.random.Generator, fonts: list[str]) -> tuple[RGB8, RGB8]:
    """A page or form of 6-10 lines over most of the image, or 4-6 plates; one character
    changes."""
    width, height = WINDOW
    font = ImageFont.truetype(fonts[int(rng.integers(len(fonts)))], int(rng.integers(15, 24)))
    step = int(font.size * 1.5)
    lines, panels = [], []
    if rng.random() < 0.6:  # a page or form
        x0, y0 = int(rng.integers(10, 60)), int(rng.integers(10, 60))
        rows = int(rng.integers(6, 11))
        panels.append((x0 - 8, y0 - 8, width - int(rng.integers(10, 60)), y0 + rows * step + 8))
        columns = int((panels[0][2] - x0) // (font.size * 0.75))
        for row in range(rows):
            lines.append((x0, y0 + row * step, _text(rng, max(4, columns - 2))))
    else:  # plates
        for _ in range(int(rng.integers(4, 7))):
            x, y = int(rng.integers(0, width - 160)), int(rng.integers(0, height - step - 10))
            text = _text(rng, int(rng.integers(4, 8)), 0.8)
            panels.append((x - 6, y - 4, x + 6 + int(len(text) * font.size * 0.7), y + step))
            lines.append((x, y, text))
    # Ink from faint to full contrast against the panel: faint glyphs are the hard ones.
    contrast = rng.uniform(0.35, 1.0)
    ink = tuple(int(240 - contrast * (240 - c)) for c in (20, 20, 30))
    which = int(rng.integers(len(lines)))
    x, y, text = lines[which]
    after, _ = _changed(text, rng)
    changed_lines = [*lines[:which], (x, y, after), *lines[which + 1 :]]
    return _lines(photo, lines, font, ink, panels), _lines(photo, changed_lines, font, ink, panels)


def texture_case(photo: RGB8, rng: np.random.Generator) -> tuple[RGB8, RGB8]:
    """A small lamp or shape in the most textured 96 px of the image, out, gone or moved."""
    grey = photo.astype(np.float32).mean(axis=2)
    best, place = -1.0, (0, 0)
    for _ in range(40):
        y, x = int(rng.integers(0, grey.shape[0] - 96)), int(rng.integers(0, grey.shape[1] - 96))
        spread = float(grey[y : y + 96, x : x + 96].std())
        if spread > best:
            best, place = spread, (x, y)
    x, y = place[0] + int(rng.integers(20, 70)), place[1] + int(rng.integers(20, 70))
    side = int(rng.integers(6, 12))
    colour = [(255, 40, 30), (255, 190, 40), (60, 255, 90), (30, 30, 30)][int(rng.integers(4))]
    before = Image.fromarray(photo)
    ImageDraw.Draw(before).ellipse((x, y, x + side, y + side), fill=colour)
    after = Image.fromarray(photo)
    change = int(rng.integers(3))
    if change == 1:  # moved
        dx, dy = (int(v) for v in rng.choice([-1, 1], 2) * rng.integers(3, 6, 2))
        ImageDraw.Draw(after).ellipse((x + dx, y + dy, x + dx + side, y + dy + side), fill=colour)
    elif change == 2:  # a lamp that is out
        dim = tuple(int(c * 0.3) + 20 for c in colour)
        ImageDraw.Draw(after).ellipse((x, y, x + side, y + side), fill=dim)
    return np.asarray(before, dtype=np.uint8), np.asarray(after, dtype=np.uint8)


def easy_case(photo: RGB8, rng: np.random.Generator, fonts: list[str]) -> tuple[RGB8, RGB8]:
    """A lone line of digits on the photograph; one digit changes."""
    font = ImageFont.truetype(fonts[int(rng.integers(len(fonts)))], int(rng.integers(22, 34)))
    x, y = int(rng.integers(10, 250)), int(rng.integers(10, 320))
    text = "".join(rng.choice(list(string.digits), 6))
    ink = (20, 20, 30) if float(photo[y : y + 40, x : x + 200].mean()) > 110 else (245, 245, 235)
    after, _ = _changed(text, rng)
    return _lines(photo, [(x, y, text)], font, ink, []), _lines(
        photo, [(x, y, after)], font, ink, []
    )


def _mask(before: RGB8, after: RGB8) -> np.ndarray:
    return np.any(before != after, axis=2)


def finds(box: crops.Box, mask: np.ndarray) -> bool:
    """Whether the crop covers at least half of the changed pixels."""
    inside = mask[box.y : box.y + box.size, box.x : box.x + box.size].sum()
    return bool(inside * 2 >= mask.sum())


def _wilson(hits: int, n: int) -> tuple[float, float, float]:
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    z, p = 1.96, hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return p, max(0.0, centre - half), min(1.0, centre + half)


def _paired(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> tuple[float, float, float]:
    """The mean of a - b over paired items, with a bootstrap 95 % interval."""
    difference = a.astype(float) - b.astype(float)
    means = [difference[rng.integers(0, len(a), len(a))].mean() for _ in range(4000)]
    return (
        float(difference.mean()),
        float(np.percentile(means, 2.5)),
        float(np.percentile(means, 97.5)),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, default=Path("../shared/datasets/wikipedia-photos"))
    parser.add_argument("--per-photo", type=int, default=4, help="cases per family and photo")
    parser.add_argument("--model", type=Path, default=None, help="detector weights (shipped)")
    parser.add_argument("--jpeg-quality", type=int, default=25)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=None, help="write every case as JSON")
    args = parser.parse_args()
    started = time.perf_counter()
    fonts = _fonts()
    photos = data.photographs(args.photos)
    _, held = data.split([name for name, _ in photos])
    detector = model.load(args.model)
    ocr = TesseractOcr()
    codecs = {
        "miscomp-mbt-low": registry.build("miscomp-mbt-low", device="cpu", check_decode=False),
        f"jpeg q{args.jpeg_quality}": registry.build("jpeg", quality=args.jpeg_quality),
    }
    rng = np.random.default_rng(args.seed)
    cases: list[dict[str, Any]] = []
    for index in held:
        name, photo = photos[index]
        for family in FAMILIES:
            for _ in range(args.per_photo):
                window = _window(photo, rng)
                if family == "page":
                    before, after = page_case(window, rng, fonts)
                elif family == "texture":
                    before, after = texture_case(window, rng)
                else:
                    before, after = easy_case(window, rng, fonts)
                mask = _mask(before, after)
                words_before = ocr.read(before)
                for codec_name, codec in codecs.items():
                    output = codec.encode_decode(after, seed=0)
                    cases.append(
                        {
                            "photo": name,
                            "family": family,
                            "codec": codec_name,
                            "bpp": output.bpp(),
                            "before": before,
                            "reconstruction": output.reconstruction,
                            "mask": mask,
                            "words_before": words_before,
                        }
                    )
        print(f"  {name}: {len(cases)} cases so far ({time.perf_counter() - started:.0f} s)")
    rank_all(cases, detector, ocr, rng)
    report(cases, args, time.perf_counter() - started)


def rank_all(
    cases: list[dict[str, Any]],
    detector: model.Detector,
    ocr: TesseractOcr,
    rng: np.random.Generator,
) -> None:
    """Each method's top 10 crops of each case, and which of them find the change."""
    maps_by_codec: dict[str, list[tuple[np.ndarray, ...]]] = defaultdict(list)
    for case in cases:
        analysis = metrics.analyse(case["before"], case["reconstruction"])
        difference = np.abs(case["before"].astype(np.int16) - case["reconstruction"]).max(axis=2)
        case["distortion"] = (
            analysis.ciede2000_map,
            1.0 - analysis.ssim_map,
            difference.astype(np.float32),
        )
        maps_by_codec[case["codec"]].append(case["distortion"])
    scales = {
        codec: [crops.bucket_scale([m[k] for m in maps]) for k in range(3)]
        for codec, maps in maps_by_codec.items()
    }
    height, width = WINDOW[1], WINDOW[0]
    for case in cases:
        normalised = np.maximum.reduce(
            [m / s for m, s in zip(case["distortion"], scales[case["codec"]], strict=True)]
        )
        maps = detector.score(case["before"], case["reconstruction"])
        words_after = ocr.read(case["reconstruction"])
        positions = crops.random_crops(width, height, SIZE, 10, rng)
        ranked = {
            "detector": [r.box for r in audit.top_regions(maps, SIZE, 10)],
            "guided": [p.box for p in crops.guided_crops(normalised, SIZE, top_k=10)],
            "text": [
                p.box
                for p in crops.text_crops(case["words_before"], words_after, SIZE, width, height)
            ][:10],
            "random": [p.box for p in positions],
        }
        case["first_hit"] = {
            method: next((k for k, box in enumerate(boxes, 1) if finds(box, case["mask"])), None)
            for method, boxes in ranked.items()
        }
        case["proposals"] = {method: len(boxes) for method, boxes in ranked.items()}


def _hits(cases: list[dict[str, Any]], method: str, k: int) -> np.ndarray:
    return np.array([(c["first_hit"][method] or 99) <= k for c in cases])


def report(cases: list[dict[str, Any]], args: argparse.Namespace, seconds: float) -> None:
    rng = np.random.default_rng(0)
    print(f"\n{len(cases)} cases ({args.per_photo} per family, photo and codec) in {seconds:.0f} s")
    summary: dict[str, Any] = {"recall": [], "hard": []}
    groups = sorted({(c["family"], c["codec"]) for c in cases})
    for family, codec in groups:
        members = [c for c in cases if c["family"] == family and c["codec"] == codec]
        bpp = np.mean([c["bpp"] for c in members])
        print(f"\n{family}, {codec} ({len(members)} images, mean {bpp:.3f} bpp)")
        for method in METHODS:
            cells = []
            for k in KS:
                hits = _hits(members, method, k)
                p, low, high = _wilson(int(hits.sum()), len(hits))
                cells.append(f"top {k:2}: {p:5.2f} [{low:.2f}, {high:.2f}]")
                summary["recall"].append(
                    {"family": family, "codec": codec, "method": method, "k": k,
                     "recall": p, "ci95": [low, high], "n": len(hits)}
                )  # fmt: skip
            print(f"  {method:9} " + "   ".join(cells))
    hard = [c for c in cases if c["family"] in HARD]
    print(f"\nHard part ({', '.join(HARD)}; {len(hard)} images, both codecs):")
    for k in KS:
        detector = _hits(hard, "detector", k)
        others = {m: _hits(hard, m, k) for m in METHODS if m != "detector"}
        best = max(others, key=lambda m: others[m].mean())
        mean, low, high = _paired(detector, others[best], rng)
        verdict = "better" if low > 0 else "not shown better"
        print(
            f"  top {k:2}: detector {detector.mean():.2f}, best other "
            f"({best}) {others[best].mean():.2f}; difference {mean:+.2f} [{low:+.2f}, {high:+.2f}] "
            f"{verdict}"
        )
        summary["hard"].append(
            {"k": k, "best_other": best, "difference": mean, "ci95": [low, high]}
        )
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, indent=2))
        print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
