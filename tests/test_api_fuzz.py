"""Fuzz every operation of the platform's own OpenAPI schema with schemathesis, as an admin and
as an annotator: whatever arrives, valid or not, no answer is a server error.

Bounded and deterministic so that it runs in ``make test``: a fixed number of examples per
operation and role (``MISCOMP_FUZZ_EXAMPLES``, default 10: about two minutes on two cores;
raise it for a deeper search), derandomized, no example database. The requests authenticate
with a Bearer API token, which is what an API client sends and what CSRF protection lets
through, so that the fuzzer reaches the routes' own validation.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, settings
from PIL import Image as PILImage
from schemathesis.checks import not_a_server_error
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from app.codec_runs.models import CodecResult, CodecRun
from app.db import make_sessionmaker
from app.domain.roles import Role
from app.main import create_app
from app.users import service as user_service
from app.users.models import ApiToken, User
from tests.conftest import TEST_REDIS_URL, empty_every_table
from tests.factories import image_bytes, make_dataset, make_user, store_image

EXAMPLES = int(os.environ.get("MISCOMP_FUZZ_EXAMPLES", "10"))

schema = schemathesis.openapi.from_dict(create_app().openapi())


@dataclass(frozen=True)
class Actor:
    app: FastAPI
    engine: Engine
    user_id: int
    token_id: int
    role: Role
    headers: dict[str, str]

    def restore(self) -> None:
        """Undo what an earlier example did to the fuzzer's own account (a revoked token, a
        deactivated user), so that every example is sent with working credentials."""
        with self.engine.begin() as conn:
            conn.execute(
                update(ApiToken).where(ApiToken.id == self.token_id).values(revoked_at=None)
            )
            conn.execute(
                update(User).where(User.id == self.user_id).values(is_active=True, role=self.role)
            )


@pytest.fixture(scope="module")
def actors(engine: Engine) -> Iterator[dict[Role, Actor]]:
    """An admin and an annotator with API tokens, and something to find: a dataset with an
    image and a finished codec run. Made once for the module (every table restarts its ids,
    so these are ids 1, which the fuzzer tries first) and emptied at its end."""
    empty_every_table(engine)
    with Session(engine, expire_on_commit=False) as session:
        dataset = make_dataset(session)
        picture = PILImage.open(io.BytesIO(image_bytes()))
        image = store_image(session, dataset.id, picture, "a.png")
        run = CodecRun(dataset_id=dataset.id, codec="jpeg", params={"quality": 20}, seeds=[0])
        session.add(run)
        session.flush()
        session.add(
            CodecResult(
                run_id=run.id, image_id=image.id, seed=0, status="done", recon_key=image.storage_key
            )
        )
        credentials = {}
        for role in (Role.ADMIN, Role.ANNOTATOR):
            user = make_user(session, role)
            token, secret = user_service.create_token(session, user, "fuzz")
            credentials[role] = (user.id, token.id, secret)
        session.commit()
    app = create_app(sessionmaker=make_sessionmaker(engine))
    yield {
        role: Actor(app, engine, user_id, token_id, role, {"Authorization": f"Bearer {secret}"})
        for role, (user_id, token_id, secret) in credentials.items()
    }
    empty_every_table(engine)
    broker = redis.Redis.from_url(TEST_REDIS_URL)
    broker.flushdb()  # the tasks the fuzzed requests queued; no worker runs them here
    broker.close()


@pytest.fixture(params=[Role.ADMIN, Role.ANNOTATOR], ids=lambda role: role.value)
def actor(request: pytest.FixtureRequest, actors: dict[Role, Actor]) -> Actor:
    return actors[request.param]


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_answers_a_server_error(case: schemathesis.Case, actor: Actor) -> None:
    actor.restore()
    case.call_and_validate(app=actor.app, headers=actor.headers, checks=[not_a_server_error])
