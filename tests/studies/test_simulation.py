"""Simulated raters (``miscomp studies simulate``): they label through the same assignment and
label code as people, keep the demo's answers, top up instead of doubling, refuse a study
people have begun, and their studies are never offered to people."""

from __future__ import annotations

import json
from itertools import combinations

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app.cli import app as cli
from app.db import make_sessionmaker
from app.domain.roles import Role
from app.errors import Conflict
from app.studies import assignment, simulation, task_names
from app.studies.models import Annotation, Assignment, LabelSource, Study, StudyItem
from app.studies.simulation import SimulationSettings
from app.users.models import User
from tests.conftest import login, login_new_admin
from tests.factories import make_user
from tests.studies.helpers import annotators, open_study_with_items


def _start(engine: Engine, study_id: int, settings: SimulationSettings) -> list[object]:
    """Mark the study simulated, as the command does; returns the tasks it queued."""
    with Session(engine, expire_on_commit=False) as session:
        study = session.get(Study, study_id)
        assert study is not None
        simulation.start(session, study, settings)
        jobs: list[object] = session.info.pop("miscomp_jobs")
        session.commit()
    return jobs


def _labels(engine: Engine, study_id: int) -> list[tuple[int, str, str]]:
    """(item, rater, verdict) of every annotation of the study."""
    with Session(engine) as session:
        rows = session.execute(
            select(Annotation.item_id, User.username, Annotation.verdict)
            .join(User, User.id == Annotation.user_id)
            .where(Annotation.study_id == study_id)
            .order_by(Annotation.id)
        )
        return [(item, rater, verdict) for item, rater, verdict in rows]


def test_the_simulated_raters_give_the_answers_the_demo_always_gave() -> None:
    """The latent answers and the raters' choices moved from the demo unchanged, so that the
    demo's figures stay as they were (recorded from the demo's own function)."""
    kinds = [("text", "crop"), ("guided", "crop"), ("random", "crop"),
             ("control", "control_planted"), ("control", "control_identity"),
             ("random", "crop"), ("text", "crop"), ("guided", "crop")]  # fmt: skip
    items = [
        StudyItem(id=number, method=method, kind=kind)
        for number, (method, kind) in enumerate(kinds, start=101)
    ]
    rng = np.random.default_rng(0)
    given = [simulation.simulated_labels(item, rng, error_rate=0.15) for item in items]
    assert given == [
        {"verdict": "miscompression", "categories": ["amplitude", "shape"],
         "modifiers": ["symbol"], "confidence": 3},
        {"verdict": "miscompression", "categories": ["geometry"], "modifiers": [],
         "confidence": 2},
        {"verdict": "unsure"},
        {"verdict": "no_miscompression"},
        {"verdict": "unsure"},
        {"verdict": "no_miscompression"},
        {"verdict": "no_miscompression"},
        {"verdict": "miscompression", "categories": ["geometry"], "modifiers": [],
         "confidence": 5},
    ]  # fmt: skip


def test_simulated_raters_label_every_item_k_times_and_a_second_run_adds_nothing(
    committed_db: Engine,
) -> None:
    study_id, items = open_study_with_items(committed_db, 12, raters_per_item=3)
    factory = make_sessionmaker(committed_db)
    assert simulation.simulate(factory, study_id).startswith("refused")  # labelled by people

    jobs = _start(committed_db, study_id, SimulationSettings(raters=3))
    assert jobs == [(task_names.SIMULATE_LABELS.name, (study_id,), None)]
    with Session(committed_db) as session:
        raters = session.scalars(
            select(User).where(User.username.in_(simulation.rater_names(3)))
        ).all()
        assert [(u.role, u.is_active) for u in raters] == [(Role.ANNOTATOR, False)] * 3
        study = session.get(Study, study_id)
        assert study is not None
        assert not simulation.progress(session, study).finished

    assert simulation.simulate(factory, study_id) == "done"
    labels = _labels(committed_db, study_id)
    assert len(labels) == 12 * 3
    assert {rater for _, rater, _ in labels} == set(simulation.rater_names(3))
    with Session(committed_db) as session:
        counters = session.execute(
            select(StudyItem.active_count, StudyItem.done_count).where(
                StudyItem.study_id == study_id
            )
        ).all()
        assert set(counters) == {(3, 3)}  # the counters moved as they do for people
        assert set(session.scalars(select(Assignment.status))) == {"done"}
        assert not session.scalar(select(func.count()).where(Annotation.late.is_(True)))
        study = session.get(Study, study_id)
        assert study is not None
        done = simulation.progress(session, study)
        assert (done.ratings, done.target, done.finished) == (36, 36, True)

    # Again, by the task or by the command with the same settings: nothing left to label.
    assert simulation.simulate(factory, study_id) == "done"
    assert _start(committed_db, study_id, SimulationSettings(raters=3))
    assert simulation.simulate(factory, study_id) == "done"
    assert _labels(committed_db, study_id) == labels
    # Other settings would mix two simulations.
    with pytest.raises(Conflict, match="other settings would mix two simulations"):
        _start(committed_db, study_id, SimulationSettings(raters=3, error_rate=0.3))
    with Session(committed_db) as session:
        study = session.get(Study, study_id)
        assert study is not None
        assert study.simulation == {"raters": 3, "error_rate": 0.15, "seed": 0}


def _share_of_disagreeing_pairs(labels: list[tuple[int, str, str]]) -> float:
    """Of the pairs of raters of an item, the share where one saw a miscompression and the
    other did not."""
    by_item: dict[int, list[bool]] = {}
    for item, _, verdict in labels:
        by_item.setdefault(item, []).append(verdict == "miscompression")
    pairs = [a != b for said in by_item.values() for a, b in combinations(said, 2)]
    return sum(pairs) / len(pairs)


def test_the_error_rate_is_how_often_a_rater_departs_from_the_latent_answer(
    committed_db: Engine,
) -> None:
    factory = make_sessionmaker(committed_db)
    shares = {}
    for error_rate in (0.0, 0.3):
        study_id, _ = open_study_with_items(committed_db, 150, raters_per_item=3)
        _start(committed_db, study_id, SimulationSettings(raters=3, error_rate=error_rate))
        assert simulation.simulate(factory, study_id) == "done"
        shares[error_rate] = _share_of_disagreeing_pairs(_labels(committed_db, study_id))
    assert shares[0.0] == 0  # every rater gives the latent answer
    # Two raters disagree when exactly one departs: 2 p (1 - p) = 0.42.
    assert shares[0.3] == pytest.approx(0.42, abs=0.07)


def test_a_study_people_have_begun_is_refused_and_nothing_changes(committed_db: Engine) -> None:
    study_id, _ = open_study_with_items(committed_db, 4)
    (person,) = annotators(committed_db, 1)
    with Session(committed_db, expire_on_commit=False) as session:
        study = session.get(Study, study_id)
        user = session.get(User, person)
        assert study is not None and user is not None
        assert assignment.next_item(session, study, user) is not None  # a person's lease
    with pytest.raises(Conflict, match=r"has leases or labels from people \(1\)"):
        _start(committed_db, study_id, SimulationSettings(raters=2))
    with Session(committed_db) as session:
        study = session.get(Study, study_id)
        assert study is not None
        assert (study.label_source, study.simulation) == (LabelSource.PEOPLE, None)
        assert not session.scalar(select(User.id).where(User.username.like("simulated-rater-%")))

    failed_id, _ = open_study_with_items(committed_db, 2)
    with Session(committed_db) as session:
        session.execute(update(Study).where(Study.id == failed_id).values(status="failed"))
        session.commit()
    with pytest.raises(Conflict, match="is failed"):
        _start(committed_db, failed_id, SimulationSettings(raters=2))


def test_a_simulated_study_is_never_offered_to_people(
    committed_client: TestClient, committed_db: Engine
) -> None:
    people_id, _ = open_study_with_items(committed_db, 2)
    simulated_id, _ = open_study_with_items(committed_db, 2)
    _start(committed_db, simulated_id, SimulationSettings(raters=1))
    with Session(committed_db, expire_on_commit=False) as session:
        person = make_user(session, Role.ANNOTATOR)
        names = dict(session.execute(select(Study.id, Study.name)).all())
        session.commit()
    csrf = {"X-CSRF-Token": login(committed_client, person)}

    queue = committed_client.get("/annotate").text
    assert names[people_id] in queue and names[simulated_id] not in queue
    # Posting to its URLs gets no lease either.
    web = committed_client.post(f"/annotate/studies/{simulated_id}/next", headers=csrf)
    api = committed_client.post(f"/api/studies/{simulated_id}/next", headers=csrf)
    for refused in (web, api):
        assert refused.status_code == 409
        assert "labelled by simulated raters" in refused.text
    with Session(committed_db) as session:
        assert not session.scalar(select(func.count()).where(Assignment.user_id == person.id))
    assert committed_client.post(f"/api/studies/{people_id}/next", headers=csrf).json()


def test_every_researchers_page_of_a_simulated_study_says_so(
    committed_client: TestClient, committed_db: Engine
) -> None:
    study_id, _ = open_study_with_items(committed_db, 2)
    people_id, _ = open_study_with_items(committed_db, 2)
    _start(committed_db, study_id, SimulationSettings(raters=2, error_rate=0.25, seed=7))
    login_new_admin(committed_client, committed_db)
    for path in ("", "/results", "/gallery"):
        page = committed_client.get(f"/studies/{study_id}{path}").text
        assert 'data-testid="simulated-labels"' in page, path
        assert "2 simulated raters, each departing from an item's latent answer with " in page
        assert "probability 0.25 (seed 7)" in page
        assert "demo" not in page.lower()
        people = committed_client.get(f"/studies/{people_id}{path}").text
        assert 'data-testid="simulated-labels"' not in people, path
    listed = committed_client.get("/studies").text
    assert listed.count('data-testid="simulated-labels"') == 1
    agreement = committed_client.get(f"/api/studies/{study_id}/agreement").json()
    assert agreement["label_source"] == "simulated"
    assert agreement["simulation"] == {"raters": 2, "error_rate": 0.25, "seed": 7}


def test_the_command_simulates_on_a_worker_and_follows_it_with_a_progress_bar(
    committed_db: Engine, celery_worker_thread: None
) -> None:
    study_id, _ = open_study_with_items(committed_db, 8, raters_per_item=2)
    with Session(committed_db) as session:
        name = session.scalars(select(Study.name).where(Study.id == study_id)).one()
    runner = CliRunner()
    args = ["studies", "simulate", name, "--error-rate", "0.2", "--seed", "5"]
    simulated = runner.invoke(cli, args)
    assert simulated.exit_code == 0, simulated.output
    assert f"study {study_id}: 2 simulated raters queued (error rate 0.2, seed 5)" in (
        simulated.output
    )
    assert f"study {study_id}: 16 simulated ratings" in simulated.output
    assert len(_labels(committed_db, study_id)) == 16

    shown = json.loads(runner.invoke(cli, ["studies", "show", str(study_id), "--json"]).output)
    assert shown["label_source"] == "simulated"
    assert shown["simulation"] == {"raters": 2, "error_rate": 0.2, "seed": 5}
    assert "labels simulated" in runner.invoke(cli, ["studies", "show", str(study_id)]).output

    again = runner.invoke(cli, [*args, "--no-wait"])
    assert again.exit_code == 0, again.output
    other = runner.invoke(cli, ["studies", "simulate", str(study_id), "--error-rate", "0.4"])
    assert other.exit_code == 1 and other.output.startswith("error: ")
    assert "other settings would mix two simulations" in other.output

    begun_id, items = open_study_with_items(committed_db, 2)
    with Session(committed_db) as session:
        session.execute(update(Study).where(Study.id == begun_id).values(raters_per_item=1))
        session.commit()
    (person,) = annotators(committed_db, 1)
    with Session(committed_db, expire_on_commit=False) as session:
        study = session.get(Study, begun_id)
        user = session.get(User, person)
        assert study is not None and user is not None
        assignment.next_item(session, study, user)
    refused = runner.invoke(cli, ["studies", "simulate", str(begun_id)])
    assert refused.exit_code == 1
    assert refused.output.strip().splitlines() == [
        f"error: study {study.name!r} has leases or labels from people (1); simulated "
        "labels would mix with theirs, so nothing was changed"
    ]
    for wrong, message in (
        (["nope"], "error: study 'nope' not found"),
        ([str(begun_id), "--error-rate", "1.5"], "error: error_rate: must be at most 1"),
    ):
        answer = runner.invoke(cli, ["studies", "simulate", *wrong])
        assert answer.exit_code == 1 and answer.output.startswith(message), answer.output
