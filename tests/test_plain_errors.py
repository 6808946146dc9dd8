"""Errors in plain words (issue 17, item 8): no pydantic or JSON-parser wording, no raw JSON
for a page a browser opens, and a refused form shown again with what was typed."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.domain.bounds import JsonRefused, parse_json
from app.domain.roles import Role
from app.domain.validation import validation_message
from app.users.models import ApiToken, User
from tests.conftest import login
from tests.factories import make_user

HTML = {"accept": "text/html"}


def test_a_get_of_a_post_only_address_explains_itself_and_points_to_the_page(
    client: TestClient, db: Session
) -> None:
    login(client, make_user(db, Role.ANNOTATOR))
    answer = client.get("/annotate/studies/3/next", headers=HTML)
    assert answer.status_code == 405
    assert answer.headers["content-type"].startswith("text/html")
    assert "is where a button sends its form, not a page to open" in answer.text
    assert '<a href="/annotate/studies/3">Back to /annotate/studies/3</a>' in answer.text
    assert "Method Not Allowed" not in answer.text
    # A program still gets JSON, with the methods it may use.
    api = client.get("/api/studies/3/exports/1", headers={"accept": "application/json"})
    assert api.headers["content-type"] == "application/json" or api.status_code != 405


def test_an_unknown_address_is_a_page_not_json(client: TestClient, db: Session) -> None:
    login(client, make_user(db, Role.RESEARCHER))
    answer = client.get("/studies/3/nothing-here", headers=HTML)
    assert answer.status_code == 404
    assert "There is no page at /studies/3/nothing-here" in answer.text
    assert '<a href="/studies/3">Back to /studies/3</a>' in answer.text
    assert client.get("/api/nothing", headers=HTML).json() == {"detail": "Not Found"}


def test_the_favicon_is_served_to_anyone(client: TestClient) -> None:
    answer = client.get("/favicon.ico")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/x-icon"
    assert answer.content[:4] == b"\0\0\1\0"  # the ICO header


class _Form(BaseModel):
    model_config = ConfigDict(extra="forbid")
    runs: list[int] = Field(min_length=1)
    seed: int = Field(ge=0, le=2_147_483_647)
    name: str = Field(min_length=1)
    share: float = Field(gt=0)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"runs": [], "seed": 1, "name": "a", "share": 1}, "runs: choose at least one"),
        (
            {"runs": [1], "seed": 2**40, "name": "a", "share": 1},
            "seed: must be at most 2,147,483,647",
        ),
        ({"runs": [1], "seed": "x", "name": "a", "share": 1}, "seed: must be a whole number"),
        ({"runs": [1], "seed": 1, "name": "", "share": 1}, "name: must not be empty"),
        ({"runs": [1], "seed": 1, "name": "a", "share": 0}, "share: must be more than 0"),
        ({"runs": [1], "seed": 1, "name": "a"}, "share: is required"),
        (
            {"runs": [1], "seed": 1, "name": "a", "share": 1, "x": 1},
            "x: is not one of the accepted fields",
        ),
    ],
)
def test_validation_errors_read_as_plain_words(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as refused:
        _Form.model_validate(data)
    said = validation_message(refused.value.errors())
    assert said == message
    assert "Input should" not in said and "after validation" not in said


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "{'quality': 5}",
            "params: not valid JSON at line 1, column 2: expected a name in "
            "double quotes (JSON writes names and text in double quotes, not single ones)",
        ),
        (
            '{"quality": 5,}',
            "params: not valid JSON at line 1, column 15: a comma before a "
            "closing bracket (JSON allows none after the last entry)",
        ),
        (
            '{"quality" 5}',
            "params: not valid JSON at line 1, column 12: expected a colon after a name",
        ),
        (
            '{\n "a": 1\n "b": 2}',
            "params: not valid JSON at line 3, column 2: expected a comma between two entries",
        ),
    ],
)
def test_json_errors_say_where_and_what_in_plain_words(text: str, message: str) -> None:
    with pytest.raises(JsonRefused) as refused:
        parse_json(text, field="params")
    assert str(refused.value) == message
    assert "Expecting" not in str(refused.value)


def test_a_refused_token_form_comes_back_with_what_was_typed(
    client: TestClient, db: Session
) -> None:
    csrf = login(client, make_user(db, Role.ANNOTATOR))
    answer = client.post(
        "/account/tokens", data={"name": "  ", "scope": "read", "csrf_token": csrf}, headers=HTML
    )
    assert answer.status_code == 422
    assert "name: must not be empty" in answer.text
    assert '<option value="read" selected>' in answer.text
    assert db.scalar(select(func.count()).select_from(ApiToken)) == 0
    made = client.post(
        "/account/tokens", data={"name": "export script", "scope": "read", "csrf_token": csrf}
    )
    assert made.status_code == 200 and 'data-testid="new-token"' in made.text
    assert db.scalar(select(ApiToken.scope)) == "read"


def test_a_refused_new_user_comes_back_with_the_name_and_role_typed(
    client: TestClient, db: Session
) -> None:
    csrf = login(client, make_user(db, Role.ADMIN))
    page = client.get("/admin/users", headers=HTML).text
    assert "<title>Users · miscomp</title>" in page
    assert '<option value="annotator" selected>' in page  # the least role by default
    answer = client.post(
        "/admin/users",
        data={"username": "kim", "role": "researcher", "password": "short", "csrf_token": csrf},
        headers=HTML,
    )
    assert answer.status_code == 422
    assert "password: must be at least 8 characters long" in answer.text
    assert 'value="kim"' in answer.text
    assert '<option value="researcher" selected>' in answer.text
    assert "short" not in answer.text  # a password is never shown again
    assert db.scalar(select(func.count()).select_from(User).where(User.username == "kim")) == 0
