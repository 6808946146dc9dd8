"""`miscomp detector`: train and evaluate the miscompression detector (torch is imported
only inside the commands)."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from app.cli.helpers import user_errors
from app.errors import UserError

group = typer.Typer(help="The learned miscompression detector.", no_args_is_help=True)

DataOption = Annotated[Path, typer.Option(help="Folder of photographs to plant changes into.")]


def _bar(label: str) -> Progress:
    return Progress(
        TextColumn(f"[bold]{label}[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[figures]}"),
        TimeRemainingColumn(),
    )


def _examples(
    data: Path, count: int, seed: int, *, held_out: bool, neural: bool, device: str
) -> tuple[list[Any], dict[str, Any]]:
    """Synthetic examples from the training (or held-out) photographs of ``data``, with a
    description of them for the model card."""
    from app.detector import data as detector_data
    from app.domain.codecs import registry
    from app.domain.codecs.base import CodecUnavailable

    if count < 8:
        raise UserError("--synthetic must be 0 or at least 8")
    try:
        photos = detector_data.photographs(data)
    except FileNotFoundError as exc:
        raise UserError(str(exc)) from None
    names = [name for name, _ in photos]
    train_part, held_part = detector_data.split(names)
    chosen = held_part if held_out else train_part
    codec = None
    if neural:
        try:
            codec = registry.build("miscomp-mbt-low", device=device, check_decode=False)
        except CodecUnavailable as exc:
            raise UserError(f"the shipped neural codec cannot run here: {exc}") from None
    rng = np.random.default_rng(seed + (1_000_003 if held_out else 0))
    with _bar("planting and coding") as bar:
        task = bar.add_task("examples", total=count, figures="")
        examples = detector_data.synthetic(
            [photos[i][1] for i in chosen],
            count,
            rng,
            detector_data.codec_choice(codec),
            progress=lambda done, total: bar.update(task, completed=done),
        )
    digest = hashlib.sha256("\n".join(names[i] for i in chosen).encode()).hexdigest()
    described = {
        "photographs": len(chosen),
        "photograph_names_sha256": digest,
        "held_out_every": 5,
        "examples": count,
        "codecs": sorted({e.codec for e in examples}),
        "kinds": sorted({e.kind for e in examples}),
    }
    return examples, described


@group.command("train")
@user_errors
def detector_train(
    out: Annotated[Path, typer.Option(help="Weights file to write (model card inside).")],
    data: Annotated[
        Path | None,
        typer.Option(help="Folder of photographs to plant changes into (with --synthetic)."),
    ] = None,
    study: Annotated[
        list[int] | None,
        typer.Option(help="A study whose labels to train on (repeat for several)."),
    ] = None,
    synthetic: Annotated[int, typer.Option(help="Synthetic examples (0: none).")] = 3000,
    base: Annotated[
        Path | None,
        typer.Option(
            help="Weights to start from (with --study: the configured detector unless given)."
        ),
    ] = None,
    steps: Annotated[int, typer.Option(help="Training steps.")] = 1500,
    batch_size: Annotated[int, typer.Option(help="Examples per step.")] = 24,
    lr: Annotated[
        float | None, typer.Option(help="Learning rate (2e-3 from scratch, 5e-4 from --base).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed (data, weights, batches).")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    neural: Annotated[
        bool, typer.Option(help="Code half the examples with the shipped neural codec.")
    ] = True,
    threads: Annotated[int, typer.Option(help="CPU threads.")] = 2,
    measure_on: Annotated[
        int,
        typer.Option("--held-out", help="Held-out planted examples to measure it on (0: none)."),
    ] = 200,
) -> None:
    """Train a detector on changes planted into the photographs of DATA (four in five of
    them; the fifth are held out for evaluation) and on the labels of each --study (four in
    five of its images; the fifth measure it), and write it with its model card. With
    --study, the results page of each study then shows its precision at k before and after."""
    from app.detector import model, retraining, training

    if steps < 1 or steps > 1_000_000:
        raise UserError("--steps must be between 1 and 1,000,000")
    if synthetic < 0 or 0 < synthetic < 8:
        raise UserError("--synthetic must be 0 or at least 8")
    if measure_on < 0 or 0 < measure_on < 8:
        raise UserError("--held-out must be 0 or at least 8")
    if not study and not synthetic:
        raise UserError("train on --synthetic 8 or more examples, or on a --study's labels")
    if synthetic and data is None:
        raise UserError("--synthetic examples are planted into the photographs of --data DIR")
    try:
        where = model.pick_device(device)
        start = model.Detector(base) if base else _configured_detector() if study else None
    except (RuntimeError, FileNotFoundError) as exc:
        raise UserError(str(exc)) from None
    started = time.time()
    labelled = _study_labels(study or [])
    examples, described = (
        _examples(data, synthetic, seed, held_out=False, neural=neural, device=where)
        if synthetic and data is not None
        else ([], {"examples": 0})
    )
    trained_on = [e for s in labelled for e in s.train]
    settings = training.TrainSettings(
        steps=steps,
        batch_size=min(batch_size, len(examples)) if examples else batch_size,
        lr=lr or (5e-4 if start else 2e-3),
        seed=seed,
        device=where,
        threads=threads,
    )
    with _bar("training") as bar:
        task = bar.add_task("train", total=steps, figures="")
        network = training.train(
            examples,
            settings,
            progress=lambda step, total, loss: bar.update(
                task, completed=step, figures=f"loss {loss:.3f}"
            ),
            study=trained_on,
            base=start,
        )
    card = training.save(
        network,
        out,
        {
            "name": out.stem,
            "data": described,
            "studies": [
                {
                    "id": s.study_id,
                    "name": s.name,
                    "trained_items": len(s.train),
                    "held_out_items": len(s.held_out),
                    "split": s.split,
                }
                for s in labelled
            ],
            "base": None
            if start is None
            else {"name": start.card.get("name"), "path": str(start.path)},
            "seed": seed,
            "steps": steps,
            "lr": settings.lr,
            "batch_size": settings.batch_size,
            "device": where,
            "training_seconds": round(time.time() - started),
            "environment": training.environment(),
        },
    )
    # The card's metrics: the new detector on planted changes in the held-out photographs,
    # and on each study's held-out items beside the detector it started from.
    after = model.Detector(out)
    metrics: dict[str, Any] = {}
    if measure_on and data is not None and synthetic:
        unseen, _ = _examples(data, measure_on, seed, held_out=True, neural=neural, device=where)
        metrics["planted_changes_held_out"] = training.evaluate(after, unseen)
    studies: dict[int, dict[str, Any]] = {}
    if start is not None and labelled:
        studies = retraining.measure(labelled, start, after)
        metrics["studies"] = {str(k): v for k, v in studies.items()}
    if metrics:
        card = training.save(network, out, {**card, "metrics": metrics})
        after = model.Detector(out)
    typer.echo(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")
    if studies:
        assert start is not None
        _record_retraining(labelled, start, after, studies)
    typer.echo(
        f"evaluate it with `miscomp detector evaluate --data DIR --model {out}`; the platform "
        f"proposes with it once MISCOMP_DETECTOR_WEIGHTS={out.resolve()}"
    )
    typer.echo(
        json.dumps({k: card.get(k) for k in ("data", "studies", "seed", "metrics")}, indent=2)
    )


def _configured_detector() -> Any:
    from app.config import get_settings
    from app.detector import model

    return model.load(get_settings().detector_weights)


def _study_labels(study_ids: list[int]) -> list[Any]:
    from app.cli.helpers import database
    from app.config import get_settings
    from app.detector import retraining
    from app.storage import media_storage

    if not study_ids:
        return []
    with database() as db, db.reading() as session:
        return retraining.gather(session, media_storage(get_settings()), study_ids)


def _record_retraining(
    labelled: list[Any], before: Any, after: Any, figures: dict[int, dict[str, Any]]
) -> None:
    """Both detectors' figures on each study's held-out items, stored for its results page
    and printed."""
    from app.cli.helpers import cli_session
    from app.detector import retraining

    with cli_session() as session:
        rows = retraining.record(session, labelled, before, after, figures)
        for row in rows:
            shown = figures[row.study_id]
            typer.echo(
                f"study {row.study_id}: {shown['held_out_items']} held-out items "
                f"({shown['positives']} miscompressions, split by {row.split})"
            )
            for k, value in shown["after"]["precision_at_k"].items():
                earlier = shown["before"]["precision_at_k"][k]
                typer.echo(f"  precision at {k:>3}: {earlier:.2f} -> {value:.2f}")


@group.command("evaluate")
@user_errors
def detector_evaluate(
    data: Annotated[
        Path | None, typer.Option(help="Folder of photographs to plant held-out changes into.")
    ] = None,
    study: Annotated[
        int | None,
        typer.Option(help="Rank a study's labelled crops instead: real miscompressions."),
    ] = None,
    model_file: Annotated[
        Path | None,
        typer.Option("--model", help="Weights to evaluate (the configured ones if not given)."),
    ] = None,
    synthetic: Annotated[int, typer.Option(help="Held-out examples to plant.")] = 400,
    seed: Annotated[int, typer.Option(help="Random seed of the examples.")] = 0,
    neural: Annotated[
        bool, typer.Option(help="Code half the examples with the shipped neural codec.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Figures of a detector: on changes planted into the held-out photographs of DATA (AUC,
    precision among the top tenth, peak on the change, category accuracy), or on the crops a
    --study's raters labelled (precision at k and AUC against their labels)."""
    from app.detector import model, training

    if (data is None) == (study is None):
        raise UserError("evaluate on --data DIR (planted changes) or on a --study's labels")
    try:
        detector = model.Detector(model_file) if model_file else _configured_detector()
    except FileNotFoundError as exc:
        raise UserError(str(exc)) from None
    if study is not None:
        figures = _study_figures(detector, study)
    else:
        assert data is not None
        examples, described = _examples(
            data, synthetic, seed, held_out=True, neural=neural, device="cpu"
        )
        figures = {**training.evaluate(detector, examples), "data": described}
    figures["model"] = str(detector.path)
    if as_json:
        typer.echo(json.dumps(figures, indent=2))
        return
    for key, value in figures.items():
        if not isinstance(value, dict):
            typer.echo(f"{key:28} {value}")
    for k, value in figures.get("precision_at_k", {}).items():
        typer.echo(f"{'precision at ' + k:28} {value}")


def _study_figures(detector: Any, study_id: int) -> dict[str, Any]:
    """The detector's ranking of every labelled crop of the study (all of them: a detector
    retrained on the study is measured on its held-out images by ``train`` instead)."""
    from app.detector import study_labels

    (labelled,) = _study_labels([study_id])
    examples = labelled.train + labelled.held_out
    return {
        "study": labelled.name,
        "labelled_items": len(examples),
        **study_labels.labelled_counts(examples),
        **study_labels.ranking(detector, examples),
    }
