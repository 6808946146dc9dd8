"""A study labelled by simulated raters of known reliability: the agreement reported for
each question recovers the simulated truth, and late ratings and controls stay out."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import krippendorff
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from irrCAC.raw import CAC
from numpy.typing import NDArray
from PIL import Image as PILImage
from sklearn.metrics import cohen_kappa_score
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from app.codec_runs.models import CodecResult, CodecRun
from app.db import make_sessionmaker
from app.domain import prevalence
from app.studies import results
from app.studies.models import Annotation, Study, StudyItem
from tests.conftest import login_new_admin
from tests.factories import make_dataset, store_image
from tests.simulated_raters import expected_agreement
from tests.studies.helpers import annotators, finished_run, label_items, open_study_with_items

VERDICTS = ("miscompression", "no_miscompression", "unsure")


def test_agreement_recovers_simulated_raters(committed_db: Engine) -> None:
    n_items, p_verdict, p_shape = 400, 0.8, 0.7
    study_id, items = open_study_with_items(committed_db, n_items + 1)
    control = items.pop()
    with Session(committed_db) as session:
        session.execute(
            update(StudyItem).where(StudyItem.id == control).values(kind="control_identity")
        )
        session.commit()
    raters = annotators(committed_db, 3)
    rng = np.random.default_rng(2026)
    prior = np.array([0.3, 0.6, 0.1])
    truth = rng.choice(3, size=n_items, p=prior)
    shape_truth = rng.random(n_items) < 0.5
    rows = []
    for item, t, s in zip(items, truth, shape_truth, strict=True):
        for rater in raters:
            verdict = t if rng.random() < p_verdict else rng.integers(0, 3)
            shape = s if rng.random() < p_shape else bool(rng.integers(0, 2))
            miscompression = VERDICTS[verdict] == "miscompression"
            rows.append({
                "item_id": item, "user_id": rater, "verdict": VERDICTS[verdict],
                "categories": ["shape"] if miscompression and shape else [],
                "modifiers": [], "confidence": int(rng.integers(1, 6)), "late": False,
            })  # fmt: skip
    # A control item and a late fourth rating: neither counts.
    rows.append({"item_id": control, "user_id": raters[0], "verdict": "unsure", "categories": [],
                 "modifiers": [], "confidence": None, "late": False})  # fmt: skip
    extra = annotators(committed_db, 1)[0]
    rows.append({"item_id": items[0], "user_id": extra, "verdict": "unsure", "categories": [],
                 "modifiers": [], "confidence": 3, "late": True})  # fmt: skip
    label_items(committed_db, study_id, rows)

    with Session(committed_db) as session:
        study = session.get(Study, study_id)
        assert study is not None
        table = {r.question.key: r for r in results.study_agreement(session, study, replicates=300)}
        stored = len(
            list(session.scalars(select(Annotation.id).where(Annotation.study_id == study_id)))
        )
    assert stored == 3 * n_items + 2
    assert set(table) == {"verdict", "category:amplitude", "category:geometry", "category:shape",
                          "modifier:symbol", "categories", "confidence"}  # fmt: skip
    verdict = table["verdict"].report
    assert (verdict.n_units, verdict.n_raters, verdict.n_pairable_units) == (n_items, 3, n_items)
    truth_alpha = expected_agreement(prior, p_verdict)
    for name in ("krippendorff_alpha", "fleiss_kappa"):
        estimate = getattr(verdict, name)
        low, high = estimate.ci
        assert low < truth_alpha < high, (name, estimate, truth_alpha)
    # Nobody marked AMPLITUDE: no variation, so its alpha is undefined, and says so.
    amplitude = table["category:amplitude"].report.krippendorff_alpha
    assert amplitude.value is None and "no variation" in (amplitude.note or "")
    # Random confidence: agreement near zero.
    confidence = table["confidence"].report.krippendorff_alpha
    low, high = confidence.ci  # type: ignore[misc]
    assert low < 0 < high
    assert table["confidence"].report.level.value == "ordinal"


def test_prevalence_weights_random_crops_by_their_inclusion_probability(
    committed_db: Engine,
) -> None:
    """Small crops drawn at a quarter of the rate of large ones (each stands for four times
    as many positions) and miscompressed less often: the weighted estimate finds the
    population's prevalence, where a plain mean of the sample would not; guided crops are
    reported apart."""
    from app.codec_runs.models import CodecResult

    run_id = finished_run(committed_db)
    study_id, _ = open_study_with_items(committed_db, 0)
    raters = annotators(committed_db, 3)
    rng = np.random.default_rng(8)
    plan = [(64, 0.01, 0.1, "random", 300), (128, 0.04, 0.4, "random", 300),
            (64, None, 0.9, "guided", 40)]  # fmt: skip
    with Session(committed_db) as session:
        result = session.scalars(select(CodecResult).where(CodecResult.run_id == run_id)).first()
        assert result is not None
        rows, position = [], 0
        for size, probability, rate, method, count in plan:
            for _ in range(count):
                item = StudyItem(
                    study_id=study_id, position=position, kind="crop", method=method,
                    result_id=result.id, image_id=result.image_id, x=0, y=0, size=size,
                    share_percent=1.0, inclusion_probability=probability, evidence={},
                    assets={}, active_count=3, done_count=3,
                )  # fmt: skip
                session.add(item)
                session.flush()
                position += 1
                truth = rng.random() < rate
                for rater in raters:  # raters who agree with the truth
                    rows.append({"item_id": item.id, "user_id": rater,
                                 "verdict": "miscompression" if truth else "no_miscompression",
                                 "categories": ["shape"] if truth else [], "modifiers": [],
                                 "confidence": 4, "late": False})  # fmt: skip
        session.commit()
    label_items(committed_db, study_id, rows)
    with Session(committed_db) as session:
        study = session.get(Study, study_id)
        assert study is not None
        items, outcomes = results.prevalence_items(session, study)
    assert outcomes[:2] == ["miscompression", "category:amplitude"]
    estimates = {
        (r.method, r.outcome): r
        for r in prevalence.estimate(items, outcomes, replicates=500, seed=1)
    }
    population = (30_000 * 0.1 + 7_500 * 0.4) / 37_500  # = 0.16
    random_rows = estimates[("random", "miscompression")]
    low, high = random_rows.estimate.ci  # type: ignore[misc]
    assert random_rows.n_items == 600
    assert low < population < high
    assert not low < 0.25 < high  # the unweighted mean of the sample
    assert estimates[("random", "category:shape")].estimate.value == random_rows.estimate.value
    assert estimates[("random", "modifier:symbol")].estimate.value == 0.0
    guided = estimates[("guided", "miscompression")]
    assert guided.n_items == 40 and "not a prevalence" in (guided.estimate.note or "")
    plot = prevalence.render(list(estimates.values()), "miscompression", title="t", fmt="svg")
    assert plot.startswith(b"<?xml")
    assert f"<!-- {items[0].codec} -->".encode() in plot  # the codec's line, in the legend


def test_the_served_report_matches_an_independent_computation(
    committed_client: TestClient, committed_db: Engine
) -> None:
    """The report as the API serves it (computed by the worker's step), against numbers
    computed here from the stored labels without the application: prevalence by the Hajek
    formula per codec and bpp bucket, agreement by the reference libraries (krippendorff,
    irrCAC, scikit-learn). Two codecs, two bitrates each, crops of two sizes drawn at
    different rates, guided crops apart, and raters who left some items out."""
    # Two codecs, each over a low- and a high-bitrate image; half-octave buckets by hand:
    # 2 ** (floor(2 log2 bpp) / 2).
    bpp = {("jpeg", "dark"): (0.3, 0.25), ("jpeg", "light"): (1.3, 1.0),
           ("webp", "dark"): (0.15, 0.125), ("webp", "light"): (0.6, 0.5)}  # fmt: skip
    rng = np.random.default_rng(61)
    raters = annotators(committed_db, 3)
    study_id, _ = open_study_with_items(committed_db, 0)
    with Session(committed_db, expire_on_commit=False) as session:
        dataset = make_dataset(session, f"independent-{study_id}")
        images = {
            name: store_image(session, dataset.id, PILImage.new("RGB", (256, 256), colour), name)
            for name, colour in (("dark", "navy"), ("light", "beige"))
        }
        items: list[tuple[StudyItem, str, float, str]] = []  # item, codec, bucket, method
        for codec in ("jpeg", "webp"):
            run = CodecRun(dataset_id=dataset.id, codec=codec, params={"quality": 30},
                           seeds=[0], status="done")  # fmt: skip
            session.add(run)
            session.flush()
            for name, image in images.items():
                rate, bucket = bpp[(codec, name)]
                result = CodecResult(run_id=run.id, image_id=image.id, seed=0, status="done",
                                     bpp=rate)  # fmt: skip
                session.add(result)
                session.flush()
                # Small crops drawn at a quarter of the rate of large ones; guided crops
                # (no inclusion probability) on the dark images.
                plan: list[tuple[int, float | None, str]] = [(64, 0.002, "random")] * 6
                plan += [(128, 0.008, "random")] * 6
                plan += [(64, None, "guided")] * (3 if name == "dark" else 0)
                for size, probability, method in plan:
                    item = StudyItem(
                        study_id=study_id, position=len(items), kind="crop", method=method,
                        result_id=result.id, image_id=image.id, x=0, y=0, size=size,
                        share_percent=1.0, inclusion_probability=probability, evidence={},
                        assets={}, active_count=0, done_count=0,
                    )  # fmt: skip
                    session.add(item)
                    items.append((item, codec, bucket, method))
        session.flush()
        session.commit()
    verdicts = ("miscompression", "no_miscompression", "unsure")
    labels: list[dict[str, Any]] = []
    for item, _, _, _ in items:
        latent = 0 if rng.random() < 0.4 else 1  # an index into verdicts
        # Each rater rates the item or leaves it out; at least one rates it.
        who = [r for r in raters if rng.random() < 0.8] or [raters[0]]
        for rater in who:
            said = latent if rng.random() < 0.8 else int(rng.integers(0, 3))
            miscompression = verdicts[said] == "miscompression"
            labels.append({
                "item_id": item.id, "user_id": rater, "verdict": verdicts[said],
                "categories": (["shape"] if rng.random() < 0.6 else ["amplitude"])
                if miscompression else [],
                "modifiers": [], "late": False,
                "confidence": None if rng.random() < 0.2 else int(rng.integers(1, 6)),
            })  # fmt: skip
    label_items(committed_db, study_id, labels)
    with Session(committed_db) as session:
        study = session.get(Study, study_id)
        assert study is not None
        results.request_report(session, study)
        session.info.pop("miscomp_jobs")  # this test runs the worker's step itself
        session.commit()
    computed = results.compute_report(make_sessionmaker(committed_db), study_id, replicates=200)
    assert computed == "done"
    login_new_admin(committed_client, committed_db)
    report = committed_client.get(f"/api/studies/{study_id}/agreement").json()
    assert report["status"] == "done" and report["stale"] is False

    # Prevalence: per item, the share of its raters who said so; per group, the mean of the
    # shares weighted by 1 / inclusion probability (random crops) or plain (guided).
    by_item: dict[int, list[dict[str, Any]]] = {}
    for label in labels:
        by_item.setdefault(label["item_id"], []).append(label)
    outcomes: dict[str, Callable[[dict[str, Any]], bool]] = {
        "miscompression": lambda label: label["verdict"] == "miscompression",
        "category:shape": lambda label: "shape" in label["categories"],
        "category:amplitude": lambda label: "amplitude" in label["categories"],
    }
    served = {(r["codec"], r["bpp_bucket"], r["method"], r["outcome"]): r
              for r in report["prevalence"]}  # fmt: skip
    groups = {(codec, bucket, method) for _, codec, bucket, method in items}
    assert len(groups) == 6
    for codec, bucket, method in groups:
        members = [i for i, c, b, m in items if (c, b, m) == (codec, bucket, method)]
        weights = np.array([1 / (i.inclusion_probability or 1.0) for i in members])
        for outcome, said in outcomes.items():
            shares = np.array([np.mean([said(x) for x in by_item[i.id]]) for i in members])
            row = served[(codec, bucket, method, outcome)]
            assert row["n_items"] == len(members)
            expected = float((shares * weights).sum() / weights.sum())
            assert row["value"] == pytest.approx(expected, abs=1e-12), (codec, bucket, outcome)
            low, high = row["ci95"]
            assert low <= row["value"] <= high
            assert (row["note"] is None) == (method == "random")

    # Agreement: raters x items matrices, NaN where a rater left the item (or, for
    # confidence, the field) out.
    item_ids = [item.id for item, _, _, _ in items]

    def matrix(value: Callable[[dict[str, Any]], float | None]) -> NDArray[np.float64]:
        data = np.full((len(raters), len(item_ids)), np.nan)
        for label in labels:
            given = value(label)
            if given is not None:
                data[raters.index(label["user_id"]), item_ids.index(label["item_id"])] = given
        return data

    verdict = matrix(lambda label: float(verdicts.index(label["verdict"])))
    questions = {q["key"]: q for q in report["questions"]}
    served_verdict = questions["verdict"]
    rated = (~np.isnan(verdict)).sum(axis=0)
    assert served_verdict["n_units"] == len(item_ids) and served_verdict["n_raters"] == 3
    assert served_verdict["n_pairable_units"] == int((rated >= 2).sum()) < len(item_ids)
    cac = CAC(pd.DataFrame(verdict.T), categories=[0.0, 1.0, 2.0], digits=12)
    fleiss, gwet = cac.fleiss()["est"], cac.gwet()["est"]
    cohen = [
        cohen_kappa_score(verdict[a][both], verdict[b][both])
        for a, b in itertools.combinations(range(3), 2)
        if (both := ~np.isnan(verdict[a]) & ~np.isnan(verdict[b])).any()
    ]
    independent = {
        "krippendorff_alpha": krippendorff.alpha(
            reliability_data=verdict, level_of_measurement="nominal"
        ),
        "fleiss_kappa": fleiss["coefficient_value"],
        "gwet_ac1": gwet["coefficient_value"],
        "percent_agreement": fleiss["pa"],
        "cohen_kappa_mean": float(np.mean(cohen)),
    }
    for name, value in independent.items():
        assert served_verdict[name] == pytest.approx(value, abs=1e-6), name
        low, high = served_verdict[f"{name}_ci95"]
        assert low <= served_verdict[name] <= high, name
    confidence = matrix(lambda label: label["confidence"])
    assert questions["confidence"]["krippendorff_alpha"] == pytest.approx(
        krippendorff.alpha(reliability_data=confidence, level_of_measurement="ordinal"),
        abs=1e-6,
    )
    shape = matrix(lambda label: float("shape" in label["categories"]))
    assert questions["category:shape"]["krippendorff_alpha"] == pytest.approx(
        krippendorff.alpha(reliability_data=shape, level_of_measurement="nominal"), abs=1e-6
    )
