"""A run with every result, as `miscomp runs show --json` and the API return it."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from app.codec_runs import service
from app.codec_runs.schemas import ResultRead, RunRead, RunReport


def run_report(session: Session, run_id: int, *, media_root: Path | None = None) -> RunReport:
    run = service.get_run(session, run_id)

    def path(key: str | None) -> str | None:
        if key is None:
            return None
        return str(media_root / key) if media_root is not None else key

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
