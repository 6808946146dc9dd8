"""Sweeps: one request, one run per value of a codec parameter, grouped so that the runs
list and the dataset page show them together (docs/runs.md). Each run stays an ordinary run:
its results, crops and studies work as any run's do.

All or nothing: every value is validated with the codec's configuration, and the dataset
and images checked, before anything is written.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.codec_runs import service
from app.codec_runs.models import CodecRun, CodecSweep
from app.codec_runs.schemas import RunCreate, SweepCreate
from app.config import get_settings
from app.domain import sweeps
from app.domain.codecs import registry
from app.errors import InvalidInput, NotFound
from app.users.models import User


@dataclass(frozen=True)
class RunGroup:
    """Runs shown together: those of one sweep, or a run queued on its own (no sweep)."""

    sweep: CodecSweep | None
    runs: list[CodecRun]


def _values(data: SweepCreate) -> list[Any]:
    if data.sweep.values != sweeps.LADDER:
        return list(data.sweep.values)
    try:
        return registry.sweep_ladder(data.codec, data.params, get_settings().operator_setup)
    except ValueError as exc:
        raise InvalidInput(f"sweep: {exc}") from None


def create_sweep(
    session: Session, data: SweepCreate, *, actor: User | None
) -> tuple[CodecSweep, list[CodecRun]]:
    param = data.sweep.param
    if param in data.params:
        raise InvalidInput(
            f"{param} is the swept parameter: leave it out of the parameters, or sweep another"
        )
    values = _values(data)
    validated: list[dict[str, Any]] = []
    problems: list[str] = []
    for value in values:
        shown = f"{param}={json.dumps(value)}"
        try:
            params = service.validate_params(data.codec, {**data.params, param: value})
        except registry.UnknownCodec as exc:
            raise InvalidInput(str(exc)) from None
        except ValueError as exc:
            problems.append(f"{shown}: {exc}")
            continue
        if params in validated:
            problems.append(f"{shown} gives the same run as an earlier value")
        validated.append(params)
    if problems:
        raise InvalidInput("; ".join(problems))
    plan = service.plan_run(
        session, RunCreate(**data.model_dump(exclude={"sweep", "params"}), params=validated[0])
    )
    sweep = CodecSweep(
        dataset_id=data.dataset_id,
        codec=data.codec,
        param=param,
        values=[p.get(param, value) for p, value in zip(validated, values, strict=True)],
        created_by_id=actor.id if actor else None,
    )
    session.add(sweep)
    session.flush()
    runs = [
        service.queue_run(
            session, dataclasses.replace(plan, params=params), actor=actor, sweep_id=sweep.id
        )
        for params in validated
    ]
    return sweep, runs


def get_sweep(session: Session, sweep_id: int) -> CodecSweep:
    sweep = session.get(CodecSweep, sweep_id)
    if sweep is None:
        raise NotFound(f"sweep {sweep_id} not found")
    return sweep


def sweeps_by_id(session: Session, runs: list[CodecRun]) -> dict[int, CodecSweep]:
    ids = {run.sweep_id for run in runs if run.sweep_id is not None}
    if not ids:
        return {}
    return {s.id: s for s in session.scalars(select(CodecSweep).where(CodecSweep.id.in_(ids)))}


def run_groups(session: Session, runs: list[CodecRun]) -> list[RunGroup]:
    """``runs`` in their order, those of one sweep gathered where its first run stands."""
    found = sweeps_by_id(session, runs)
    groups: list[RunGroup] = []
    by_sweep: dict[int, RunGroup] = {}
    for run in runs:
        if run.sweep_id is None:
            groups.append(RunGroup(None, [run]))
        elif run.sweep_id in by_sweep:
            by_sweep[run.sweep_id].runs.append(run)
        else:
            by_sweep[run.sweep_id] = RunGroup(found[run.sweep_id], [run])
            groups.append(by_sweep[run.sweep_id])
    return groups
