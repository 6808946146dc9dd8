"""A run with every result, as `miscomp runs show --json` and the API return it; a
dataset's rate-distortion curves with their BD-rates, as its page and the API show them."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.codec_runs import service
from app.codec_runs.schemas import (
    BdRead,
    CurveRead,
    RdReport,
    ResultRead,
    RunRead,
    RunReport,
)
from app.domain import rd
from app.storage import MediaStorage


def run_report(session: Session, run_id: int, *, storage: MediaStorage | None = None) -> RunReport:
    """Files are named by their storage keys, or with ``storage`` (the CLI) where they are:
    a file path, or an ``s3://`` URL."""
    run = service.get_run(session, run_id)

    def path(key: str | None) -> str | None:
        if key is None:
            return None
        return storage.location(key) if storage is not None else key

    results = [
        ResultRead.model_validate(result).model_copy(
            update={
                "image_filename": image.filename,
                "recon_path": path(result.recon_key),
                "jpeg_path": path(result.jpeg_key),
            }
        )
        for result, image in service.results(session, run_id)
    ]
    return RunReport(
        **RunRead.model_validate(run).model_dump(exclude={"progress"}),
        progress=service.progress(session, run),
        results=results,
    )


def rd_report(session: Session, dataset_id: int, *, image_id: int | None = None) -> RdReport:
    """Curves over every finished result of the dataset (or of one image), and each curve's
    BD-rate and BD-PSNR against the JPEG anchor (``rd.anchor_curve``)."""
    curves = rd.curves(service.rd_points(session, dataset_id, image_id=image_id))
    anchor = rd.anchor_curve(curves)
    return RdReport(
        dataset_id=dataset_id,
        image_id=image_id,
        method=rd.BD_METHOD,
        anchor=anchor.label if anchor else None,
        curves=[
            CurveRead(label=c.label, codec=c.codec, bpp=c.bpp, psnr=c.psnr, ms_ssim=c.ms_ssim)
            for c in curves
        ],
        bd=[
            BdRead(
                label=row.label,
                anchor=row.anchor,
                points=row.points,
                bd_rate_percent=row.result.bd_rate,
                bd_psnr_db=row.result.bd_psnr,
                reason=row.result.reason,
            )
            for row in rd.bd_table(curves, anchor)
        ],
    )
