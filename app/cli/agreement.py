"""`miscomp agreement`: agreement between raters, for ratings made anywhere."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from app.cli.helpers import fail, user_errors

group = typer.Typer(help="Agreement between raters.", no_args_is_help=True)


@group.command("compute")
@user_errors
def agreement_compute(
    input_file: Annotated[Path, typer.Option("--input", help="Long-format CSV: unit,rater,value.")],
    level: Annotated[
        str, typer.Option(help="nominal, ordinal, interval or ratio (for alpha).")
    ] = "nominal",
    replicates: Annotated[
        int, typer.Option(help="Bootstrap replicates for the 95 % intervals (0: none).")
    ] = 1000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Krippendorff's alpha, Fleiss' kappa, Cohen's kappas, Gwet's AC1 and percent agreement
    for ratings made anywhere. An empty value is a missing rating."""
    from app.domain import agreement

    try:
        chosen = agreement.Level(level)
    except ValueError:
        raise fail("--level is nominal, ordinal, interval or ratio") from None
    if replicates < 0:
        raise fail("--replicates must be 0 or more")
    try:
        with input_file.open(newline="", encoding="utf-8-sig") as handle:
            ratings = agreement.read_long_csv(handle, chosen)
        report = agreement.agreement(ratings, chosen, replicates=replicates, seed=seed)
    except OSError as exc:
        raise fail(f"cannot read {input_file}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise fail(f"{input_file}: {exc}") from None
    result = report.as_json()
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    typer.echo(
        f"{result['n_units']} units, {result['n_raters']} raters, "
        f"{result['n_pairable_units']} units with two or more ratings; level {level}"
    )
    for name in (
        "krippendorff_alpha",
        "fleiss_kappa",
        "cohen_kappa_mean",
        "gwet_ac1",
        "percent_agreement",
    ):
        value = result[name]
        ci = result[f"{name}_ci95"]
        shown = "undefined" if value is None else f"{value:.4f}"
        interval = f"  95 % CI [{ci[0]:.4f}, {ci[1]:.4f}]" if isinstance(ci, list) else ""
        typer.echo(f"  {name:20s} {shown}{interval}")
    for note in result["notes"]:  # type: ignore[attr-defined]
        typer.echo(f"  note: {note}")
