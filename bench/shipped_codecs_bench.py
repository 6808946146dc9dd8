"""Shipped codecs against the platform's own bpp-matched JPEG, on photographs not used in training.

For each shipped model and each held-out photograph: code it twice (the bits and pixels must be
identical: decoding is deterministic), check the decode against forward() (the consistency
check of codec runs), measure bpp, PSNR and MS-SSIM, then find the JPEG quality whose bpp is
closest (`match_bpp`) and measure that JPEG too. The quality bar: mean PSNR at least 1.0 dB
above the matched JPEG's, and mean MS-SSIM above it too.

    .venv/bin/python bench/shipped_codecs_bench.py [--photos DIR]... [--plot FILE.svg]
        [--candidate WEIGHTS]...

Held-out photographs: scikit-image's colour photographs, plus any folder given with --photos.
``--candidate`` measures weights written by `miscomp codecs train` (their model card beside
them names the architecture) in the same way, before they are packed and shipped.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from app.domain import rd  # noqa: E402
from app.domain.codecs import registry  # noqa: E402
from app.domain.codecs.classical import JpegCodec  # noqa: E402
from app.domain.codecs.rate import MatchStatus, match_bpp  # noqa: E402
from app.domain.codecs.shipped import SHIPPED  # noqa: E402
from app.domain.metrics import ms_ssim_rgb, psnr_rgb  # noqa: E402

SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry")
JPEG_LADDER = (2, 4, 6, 8, 10, 15, 20, 30, 40, 50)


def held_out(folders: list[Path]) -> list[tuple[str, np.ndarray]]:
    import skimage.data

    photos = [(f"skimage/{n}", np.asarray(getattr(skimage.data, n)())) for n in SKIMAGE_PHOTOS]
    for folder in folders:
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"):
                with Image.open(path) as image:
                    photos.append((f"{folder.name}/{path.name}", np.asarray(image.convert("RGB"))))
    return photos


RATE_WINDOWS = {"miscomp-mbt-low": (0.12, 0.30)}
"""Where each shipped model's mean bpp on held-out photographs should lie."""


def shipped() -> list[tuple[str, Any]]:
    return [(name, registry.build(name, device="cpu")) for name in SHIPPED]


def candidates(paths: list[Path]) -> list[tuple[str, Any]]:
    """Weights from `miscomp codecs train`, each with its model card (``.json``) beside it."""
    found = []
    for path in paths:
        card = json.loads(path.with_suffix(".json").read_text())
        codec = registry.build(
            "checkpoint", path=str(path), arch=card["architecture"], device="cpu"
        )
        found.append((f"candidate {path.name}", codec))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, action="append", default=[])
    parser.add_argument("--plot", type=Path, default=None, help="write the RD plot (SVG) here")
    parser.add_argument(
        "--candidate", type=Path, action="append", default=[], help="trained weights to measure"
    )
    args = parser.parse_args()
    photos = held_out(args.photos)
    curves: list[rd.Curve] = []
    verdicts = []
    for name, codec in [*shipped(), *candidates(args.candidate)]:
        print(f"{name}: {len(photos)} held-out photographs")
        print(
            f"  {'image':34} {'bpp':>6} {'PSNR':>6} {'MS-SSIM':>7} | {'JPEG q':>6} {'bpp':>6} "
            f"{'PSNR':>6} {'MS-SSIM':>7} | {'dPSNR':>6} {'determ.':>7} {'decode':>7}"
        )
        rows = []
        own_bpp, own_psnr = [], []
        for label, pixels in photos:
            first = codec.encode_decode(pixels)
            second = codec.encode_decode(pixels)
            deterministic = first.bits == second.bits and np.array_equal(
                first.reconstruction, second.reconstruction
            )
            consistent = first.invalid_reason is None
            bpp = first.bpp()
            psnr = psnr_rgb(pixels, first.reconstruction)
            msssim = ms_ssim_rgb(pixels, first.reconstruction)
            own_bpp.append(bpp)
            own_psnr.append(psnr)
            verdicts.append(deterministic and consistent)
            match = match_bpp(JpegCodec(), pixels, bpp)
            if match.status is not MatchStatus.MATCHED:
                # JPEG cannot reach this rate at all: the image is left out of the comparison.
                print(
                    f"  {label:34} {bpp:6.3f} {psnr:6.2f} {msssim or float('nan'):7.4f} | "
                    f"JPEG {match.status.value} (lowest quality: {match.achieved_bpp:.3f} bpp) "
                    f"{'yes' if deterministic else 'NO':>7} {'ok' if consistent else 'INVALID':>7}"
                )
                continue
            jpeg = match.output.reconstruction
            jpeg_psnr, jpeg_msssim = psnr_rgb(pixels, jpeg), ms_ssim_rgb(pixels, jpeg)
            rows.append((bpp, psnr, msssim, match.achieved_bpp, jpeg_psnr, jpeg_msssim))
            print(
                f"  {label:34} {bpp:6.3f} {psnr:6.2f} {msssim or float('nan'):7.4f} | "
                f"{match.quality:6d} {match.achieved_bpp:6.3f} {jpeg_psnr:6.2f} "
                f"{jpeg_msssim or float('nan'):7.4f} | {psnr - jpeg_psnr:+6.2f} "
                f"{'yes' if deterministic else 'NO':>7} {'ok' if consistent else 'INVALID':>7}"
            )
        low, high = RATE_WINDOWS.get(name, (0.0, 99.0))
        mean_bpp = statistics.mean(own_bpp)
        inside = "inside" if low <= mean_bpp <= high else "OUTSIDE"
        print(
            f"  the model on all {len(own_bpp)} photographs: mean {mean_bpp:.3f} bpp "
            f"({inside} its window {low}-{high}), PSNR {statistics.mean(own_psnr):.2f} dB"
        )
        if not rows:
            print("  no image had a matched JPEG")
            continue
        means = [
            statistics.mean(v for v in column if v is not None)
            for column in zip(*rows, strict=True)
        ]
        d_psnr, d_msssim = means[1] - means[4], means[2] - means[5]
        print(
            f"  {'mean of the matched':34} {means[0]:6.3f} {means[1]:6.2f} {means[2]:7.4f} | "
            f"{'':6} {means[3]:6.3f} {means[4]:6.2f} {means[5]:7.4f} | {d_psnr:+6.2f}"
        )
        passed = d_psnr >= 1.0 and d_msssim > 0
        print(
            f"  quality bar (PSNR +1.0 dB and higher MS-SSIM than matched JPEG): "
            f"{'MET' if passed else 'NOT MET'} (dPSNR {d_psnr:+.2f} dB, dMS-SSIM {d_msssim:+.4f})"
        )
        curves.append(rd.Curve(name, [means[0]], [means[1]], [means[2]]))
        curves.append(rd.Curve(f"JPEG matched to {name}", [means[3]], [means[4]], [means[5]]))
    print(
        "decoding deterministic and consistent on every image: "
        f"{'yes' if verdicts and all(verdicts) else 'NO'}"
    )
    ladder = []
    for quality in JPEG_LADDER:
        outputs = [(p, JpegCodec(quality=quality).encode_decode(p)) for _, p in photos]
        ladder.append(
            (
                statistics.mean(o.bpp() for _, o in outputs),
                statistics.mean(psnr_rgb(p, o.reconstruction) for p, o in outputs),
                statistics.mean(ms_ssim_rgb(p, o.reconstruction) or 0.0 for p, o in outputs),
            )
        )
    curves.append(
        rd.Curve(
            "JPEG quality ladder",
            [t[0] for t in ladder],
            [t[1] for t in ladder],
            [t[2] for t in ladder],
        )
    )
    if args.plot:
        args.plot.write_bytes(
            rd.render(curves, title="Shipped codecs vs JPEG on held-out photographs (means)")
        )
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
