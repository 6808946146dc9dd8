"""The codec run export: one record per result (an image and seed of a run), in the study
export's shape (``section -> field -> value``) so the same writers write it.

The fixed fields are listed here once (``docs/exports.md`` is checked against them); the
metrics are columns too, one per metric the run measured (``metrics.<name>`` and
``jpeg_metrics.<name>``), since which metrics exist depends on the codec and on the
perceptual models installed where it ran.
"""

from __future__ import annotations

from collections.abc import Iterable

from app.domain.exports.schema import Field, section_fields

METRICS_SECTION = "metrics"
JPEG_METRICS_SECTION = "jpeg_metrics"

RESULT_FIELDS: tuple[Field, ...] = (
    *section_fields(
        "image",
        ("id", "int", "The image's id."),
        ("filename", "str", "The file name it was imported under."),
        ("sha256", "str", "sha256 of its decoded 8-bit RGB pixels (as stored)."),
        ("width", "int", "Width in pixels."),
        ("height", "int", "Height in pixels."),
    ),
    *section_fields(
        "run",
        ("id", "int", "The codec run."),
        ("codec", "str", "The codec's registered name (or an imported run's label)."),
        ("params", "json", "The codec's parameters."),
    ),
    *section_fields(
        "result",
        ("id", "int", "The result's id."),
        ("seed", "int", "The coding seed."),
        ("status", "str", "pending, encoding, ..., done, failed, invalid or cancelled."),
        ("error", "str", "Why it failed or is invalid."),
        ("bits", "int", "The bits of the coded image."),
        ("bpp", "float", "Measured bits per pixel."),
        ("bits_source", "str", "Where the bits were counted: the bitstream file, or a sidecar."),
        ("encode_s", "float", "Encoding time in seconds."),
        ("decode_s", "float", "Decoding time in seconds."),
        ("device", "str", "Where it ran (cpu, cuda:0...)."),
    ),
    *section_fields(
        "jpeg",
        ("status", "str", "How the bpp-matched JPEG turned out (matched, above, ...)."),
        ("target_bpp", "float", "The bpp the JPEG was matched to."),
        ("quality", "int", "The matched JPEG's quality."),
        ("bpp", "float", "The matched JPEG's bits per pixel."),
    ),
)
"""Every fixed field of a result record, in column order (metrics follow their section)."""


def run_fields(metric_names: Iterable[str], jpeg_metric_names: Iterable[str]) -> tuple[Field, ...]:
    """The columns of a run's export: the fixed fields, the reconstruction's metrics after
    ``result``, the JPEG's after ``jpeg``, each set in name order."""

    def metric_fields(section: str, names: Iterable[str], whose: str) -> tuple[Field, ...]:
        return tuple(
            Field(section, name, "float", f"{name} of the {whose}.") for name in sorted(names)
        )

    fixed = RESULT_FIELDS
    before_jpeg = next(n for n, f in enumerate(fixed) if f.section == "jpeg")
    return (
        *fixed[:before_jpeg],
        *metric_fields(METRICS_SECTION, metric_names, "reconstruction"),
        *fixed[before_jpeg:],
        *metric_fields(JPEG_METRICS_SECTION, jpeg_metric_names, "matched JPEG"),
    )
