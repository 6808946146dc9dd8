import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from app.domain import sweeps
from app.domain.rd import (
    MATCHED_JPEG,
    BdResult,
    RunPoints,
    anchor_curve,
    bd_delta,
    bd_table,
    curve_label,
    curves,
    figure,
    render,
)


def test_runs_of_one_codec_at_several_qualities_form_one_curve() -> None:
    runs = [
        RunPoints("jpeg", {"quality": 50, "subsampling": "4:2:0"}, [(1.0, 32.0, 0.95)], []),
        RunPoints(
            "jpeg",
            {"quality": 10, "subsampling": "4:2:0"},
            [(0.2, 24.0, 0.80), (0.4, 26.0, None)],
            [],
        ),
        RunPoints(
            "compressai",
            {"arch": "mbt2018", "quality": 1, "metric": "mse"},
            [(0.1, 28.0, 0.92)],
            [(0.11, 25.0, 0.85)],
        ),
    ]
    by_label = {c.label: c for c in curves(runs)}
    assert set(by_label) == {"jpeg (subsampling=4:2:0)", "mbt2018 (mse)", "JPEG at matched bpp"}
    jpeg = by_label["jpeg (subsampling=4:2:0)"]
    assert jpeg.bpp == [0.30000000000000004, 1.0]  # sorted by bpp; means per run
    assert jpeg.psnr == [25.0, 32.0]
    assert jpeg.ms_ssim == [0.8, 0.95]  # missing values are left out of the mean
    assert by_label["JPEG at matched bpp"].bpp == [0.11]


def test_labels_and_rendering() -> None:
    assert curve_label("imported", {"label": "bpg-0.9.8"}) == "bpg-0.9.8"
    assert curve_label("compressai", {"arch": "x", "pretrained": False}).endswith("random weights")
    curve_list = curves([RunPoints("webp", {"quality": 5}, [(0.2, 25.0, 0.9)], [])])
    svg = render(curve_list, title="t", fmt="svg")
    assert b"<svg" in svg and render(curve_list, title="t", fmt="svg") == svg
    assert render(curve_list, title="t", fmt="pdf").startswith(b"%PDF")


def test_the_legend_hides_no_point() -> None:
    """Issue 17: the legend sat on a point of the PSNR plot. Five codecs whose points fill
    both plots evenly leave a legend inside the axes no free corner."""
    codecs = ["avif", "jpeg", "jpegxl", "webp", "external"]
    runs = [
        RunPoints(
            codec,
            {"quality": q, "name": codec},
            [(0.1 + 0.2 * q, 22.0 + 2 * c + 0.5 * q, 0.7 + 0.05 * c + 0.01 * q)],
            [],
        )
        for c, codec in enumerate(codecs)
        for q in range(8)
    ]
    drawn = figure(curves(runs), title="a full plot")
    renderer = FigureCanvasAgg(drawn).get_renderer()
    drawn.draw(renderer)
    (legend,) = drawn.legends
    box = legend.get_window_extent(renderer)
    assert len(legend.get_texts()) == 5
    points = 0
    for axis in drawn.axes:
        for line in axis.get_lines():
            for x, y in axis.transData.transform(line.get_xydata()):
                points += 1
                assert not box.contains(x, y), (line.get_label(), x, y)
    assert points == 2 * 5 * 8


def _reference_bd(
    r1: list[float], p1: list[float], r2: list[float], p2: list[float]
) -> tuple[float, float]:
    """The classic VCEG-M33 formulation (numpy polyfit / polyint over the common range), as
    published beside Bjøntegaard's note; only here, to check ``rd.bd_delta``."""
    lr1, lr2 = np.log(r1), np.log(r2)
    fit1, fit2 = np.polyfit(p1, lr1, 3), np.polyfit(p2, lr2, 3)
    low, high = max(min(p1), min(p2)), min(max(p1), max(p2))
    int1, int2 = np.polyint(fit1), np.polyint(fit2)
    area1 = np.polyval(int1, high) - np.polyval(int1, low)
    area2 = np.polyval(int2, high) - np.polyval(int2, low)
    bd_rate = (np.exp((area2 - area1) / (high - low)) - 1) * 100
    fit1, fit2 = np.polyfit(lr1, p1, 3), np.polyfit(lr2, p2, 3)
    low, high = max(min(lr1), min(lr2)), min(max(lr1), max(lr2))
    int1, int2 = np.polyint(fit1), np.polyint(fit2)
    area1 = np.polyval(int1, high) - np.polyval(int1, low)
    area2 = np.polyval(int2, high) - np.polyval(int2, low)
    return float(bd_rate), float((area2 - area1) / (high - low))


def _monotone_curve(rng: np.random.Generator, n: int) -> tuple[list[float], list[float]]:
    """Random steps up in rate (x1.3 to x2.5) and in PSNR (0.5 to 3 dB), as RD points are."""
    bpp = rng.uniform(0.05, 0.2) * np.cumprod(rng.uniform(1.3, 2.5, n))
    psnr = rng.uniform(22, 28) + np.cumsum(rng.uniform(0.5, 3.0, n))
    return bpp.tolist(), psnr.tolist()


@pytest.mark.parametrize("seed", range(8))
def test_bd_delta_agrees_with_the_vceg_m33_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    anchor = _monotone_curve(rng, int(rng.integers(4, 9)))
    test = _monotone_curve(rng, int(rng.integers(4, 9)))
    # Shift the test curve so that the two curves differ but overlap.
    factor = rng.uniform(0.6, 1.2)
    test = ([b * factor for b in test[0]], [p + 0.3 for p in test[1]])
    result = bd_delta(*anchor, *test)
    bd_rate, bd_psnr = _reference_bd(anchor[0], anchor[1], test[0], test[1])
    assert result.reason is None
    assert result.bd_rate == pytest.approx(bd_rate, rel=1e-7, abs=1e-7)
    assert result.bd_psnr == pytest.approx(bd_psnr, rel=1e-7, abs=1e-7)


def test_bd_delta_of_a_curve_shifted_by_known_amounts() -> None:
    """Worked by hand: the same PSNRs at 80 % of the rates is a BD-rate of exactly -20 %;
    1 dB more at the same rates is a BD-PSNR of exactly +1 dB (the cubic fits of shifted
    points are the shifted fits), whatever the curve's shape."""
    bpp = [0.12, 0.25, 0.5, 1.0, 1.9]
    psnr = [26.0, 28.7, 31.5, 34.0, 36.1]
    cheaper = bd_delta(bpp, psnr, [b * 0.8 for b in bpp], psnr)
    assert cheaper.bd_rate == pytest.approx(-20.0, abs=1e-9)
    assert cheaper.bd_psnr is not None and cheaper.bd_psnr > 0
    better = bd_delta(bpp, psnr, bpp, [p + 1 for p in psnr])
    assert better.bd_psnr == pytest.approx(1.0, abs=1e-9)
    assert better.bd_rate is not None and better.bd_rate < 0
    same = bd_delta(bpp, psnr, bpp, psnr)
    assert same.bd_rate == pytest.approx(0.0, abs=1e-9)
    assert same.bd_psnr == pytest.approx(0.0, abs=1e-9)


def test_bd_delta_says_why_it_has_no_figure() -> None:
    bpp, psnr = [0.1, 0.2, 0.4, 0.8], [25.0, 27.0, 29.0, 31.0]
    short = bd_delta(bpp, psnr, bpp[:3], psnr[:3])
    assert short == BdResult(None, None, "this curve has fewer than 4 rate points with a PSNR")
    missing = bd_delta(bpp, [25.0, None, 29.0, 31.0], bpp, psnr)
    assert missing.reason == "the anchor has fewer than 4 rate points with a PSNR"
    bent = bd_delta(bpp, psnr, bpp, [25.0, 28.0, 27.0, 31.0])
    assert bent.reason == "PSNR does not rise with the rate along this curve"
    apart = bd_delta(bpp, psnr, [b * 100 for b in bpp], [p + 20 for p in psnr])
    assert apart.bd_rate is None and apart.bd_psnr is None
    assert apart.reason == "the curves share no PSNR range; the curves share no rate range"
    # Higher rates at the same PSNRs: BD-rate exists, the rate ranges do not meet.
    costly = bd_delta(bpp, psnr, [b * 10 for b in bpp], psnr)
    assert costly.bd_rate == pytest.approx(900.0) and costly.bd_psnr is None
    assert costly.reason == "the curves share no rate range"


def test_the_anchor_is_the_best_sampled_jpeg_curve() -> None:
    def run(codec: str, quality: int, bpp: float, psnr: float, jpeg: bool = False) -> RunPoints:
        point = [(bpp, psnr, None)]
        return RunPoints(
            codec, {"quality": quality}, point, [(bpp, psnr - 1, None)] if jpeg else []
        )

    ladder = [run("jpeg", q, q / 50, 25 + q / 10) for q in (10, 30, 50, 70, 90)]
    neural = [run("compressai", q, q / 10, 27 + q, jpeg=True) for q in (1, 2, 3, 4)]
    curve_list = curves(ladder + neural)
    anchor = anchor_curve(curve_list)
    assert anchor is not None and anchor.label == "jpeg" and anchor.codec == "jpeg"
    rows = {row.label: row for row in bd_table(curve_list)}
    assert set(rows) == {"None (mse)", MATCHED_JPEG}
    assert all(row.anchor == "jpeg" and row.points == 4 for row in rows.values())
    # Without JPEG runs the matched JPEGs are the anchor; a WebP curve has none to compare.
    assert anchor_curve(curves(neural)).label == MATCHED_JPEG  # type: ignore[union-attr]
    assert bd_table(curves([run("webp", q, q, q) for q in (1, 2, 3, 4)])) == []


def test_a_sweep_over_another_parameter_is_one_curve() -> None:
    """Runs of a sweep over checkpoints differ in their path, not in a quality: one curve."""
    runs = [
        RunPoints(
            "checkpoint",
            {"arch": "mbt2018-mean", "path": f"lambda-{i}.pth"},
            [(0.1 * i, 25.0 + i, None)],
            [],
            sweep_param="path",
        )
        for i in (1, 2, 3, 4)
    ]
    (curve,) = curves(runs)
    assert curve.label == "checkpoint (arch=mbt2018-mean)" and len(curve.bpp) == 4
    unswept = curves([RunPoints(r.codec, r.params, r.points, []) for r in runs])
    assert len(unswept) == 4


def test_sweep_values_are_read_as_the_cli_reads_params() -> None:
    assert sweeps.parse_values("5, 10,20 ,40") == [5, 10, 20, 40]
    assert sweeps.parse_values(" ladder ") == "ladder"
    assert sweeps.parse_values('a.pth, "b,c.pth", 0.5') == ["a.pth", '"b', 'c.pth"', 0.5]
    assert sweeps.is_sweep("5,10") and sweeps.is_sweep("ladder")
    assert (
        not sweeps.is_sweep("5") and not sweeps.is_sweep('"a,b"') and not sweeps.is_sweep("[1,2]")
    )
    for text, message in (
        ("", "list the values"),
        ("5,,10", "an empty value"),
        (",".join(["1"] * 25), "at most 24"),
        ("5, [1]", "a number or a string"),
    ):
        with pytest.raises(ValueError, match=message):
            sweeps.parse_values(text)
