from matplotlib.backends.backend_agg import FigureCanvasAgg

from app.domain.rd import RunPoints, curve_label, curves, figure, render


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
