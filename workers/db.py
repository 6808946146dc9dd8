"""The workers' own database sessions (one per task, committed at the end)."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy.orm import Session, sessionmaker

from app import install_session_listeners
from app.config import get_settings
from app.db import make_engine, make_sessionmaker


@lru_cache
def worker_sessionmaker() -> sessionmaker[Session]:
    install_session_listeners()
    return make_sessionmaker(make_engine(get_settings().database_url))
