"""``GET /metrics``: Prometheus figures for the admins' monitoring (docs/deployment.md)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from app.auth.dependencies import AdminUser
from app.db import SessionDep, utcnow
from app.monitoring import exposition, service

router = APIRouter(tags=["monitoring"])


@router.get("/metrics", name="metrics", include_in_schema=False)
def metrics(request: Request, user: AdminUser, session: SessionDep) -> Response:
    """Admins only, by session or API token (a Prometheus job sends its token as
    ``Authorization: Bearer``). Never 500 for a broker that does not answer: that is a figure,
    ``miscomp_broker_up 0``."""
    scrape = exposition.Scrape(
        counts=service.counts_by_status(session),
        heartbeats=service.recent_heartbeats(session, utcnow()),
        queue_depths=_queue_depths(request.app),
    )
    return Response(exposition.render(scrape), media_type=CONTENT_TYPE_LATEST)


def _queue_depths(app: FastAPI) -> dict[str, int] | None:
    # Celery is loaded on the first scrape, not when the web process starts.
    from app.broker import BrokerUnavailable, make_celery, queue_depths

    celery = getattr(app.state, "metrics_celery", None)
    if celery is None:
        celery = app.state.metrics_celery = make_celery(app.state.settings)
    try:
        return queue_depths(celery)
    except BrokerUnavailable:
        return None
