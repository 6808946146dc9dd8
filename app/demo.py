"""What ``miscomp demo`` sets up: accounts, and a demo dataset of real photographs + a test card.

Running it again reuses what exists: accounts keep their passwords (kept in ``var/``), and the
dataset import finds every image already present.
"""

from __future__ import annotations

import importlib.util
import json
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.config import Settings
from app.datasets import service as dataset_service
from app.datasets.models import Dataset
from app.datasets.schemas import DatasetCreate
from app.domain import panes as pane_names
from app.domain.roles import Role
from app.domain.testcard import draw_test_card
from app.users import service as user_service
from app.users.schemas import UserCreate

DEMO_DATASET = "demo-photos"
DEMO_ACCOUNTS: tuple[tuple[str, Role], ...] = (
    ("admin", Role.ADMIN),
    ("researcher", Role.RESEARCHER),
    ("annotator1", Role.ANNOTATOR),
    ("annotator2", Role.ANNOTATOR),
    ("annotator3", Role.ANNOTATOR),
)
# Photographs shipped inside scikit-image's wheel (skimage/data), with their licences in
# scikit-image's data README; greyscale and RGBA files exercise the mode conversion.
SKIMAGE_FILES = (
    "astronaut.png",
    "coffee.png",
    "chelsea.png",
    "rocket.jpg",
    "motorcycle_left.png",
    "hubble_deep_field.jpg",
    "retina.jpg",
    "ihc.png",
    "logo.png",
    "camera.png",
    "text.png",
    "page.png",
)
DEMO_LICENSE = (
    "Photographs from scikit-image's data module (skimage/data; public domain or CC0/CC-BY as "
    "listed in scikit-image's data/README.txt). Test card drawn by miscomp (Apache-2.0)."
)


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: Role
    password: str


def ensure_accounts(session: Session, settings: Settings) -> list[DemoAccount]:
    store = settings.var_dir / "demo-accounts.json"
    known: dict[str, str] = json.loads(store.read_text()) if store.exists() else {}
    accounts = []
    for username, role in DEMO_ACCOUNTS:
        if user_service.find_user_by_username(session, username) is None:
            password = known.get(username) or secrets.token_urlsafe(9)
            user_service.create_user(
                session, UserCreate(username=username, role=role, password=password)
            )
            known[username] = password
        accounts.append(DemoAccount(username, role, known.get(username, "(set earlier)")))
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_text(json.dumps(known, indent=2))
    store.chmod(0o600)
    return accounts


EXAMPLE_EXTERNAL_CODECS = """\
# Command-line codecs this server may run (docs/codecs.md). Only the operator declares them;
# a run picks one by name and sets at most its quality:
#   miscomp runs create --dataset demo-photos --codec external --param name=cwebp --param quality=40
# `miscomp demo` wrote this example; edit it freely, it is never overwritten.

[cwebp]
label = "cwebp (libwebp)"
encode = "cwebp -quiet -q {quality} {input} -o {output}"
decode = "dwebp -quiet {input} -o {output}"
qualities = [0, 100]
default_quality = 75
ladder = [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
compressed_suffix = ".webp"

[cjpeg]
label = "cjpeg (libjpeg-turbo)"
encode = "cjpeg -quality {quality} -outfile {output} {input}"
decode = "djpeg -pnm -outfile {output} {input}"
qualities = [1, 100]
default_quality = 75
input_format = "ppm"
compressed_suffix = ".jpg"
reconstruction_suffix = ".ppm"
"""


def ensure_example_external_codecs(settings: Settings) -> str | None:
    """Declare Debian's WebP and JPEG command-line tools as example external codecs, when no
    declarations file exists yet; a message saying so, or None."""
    path = settings.external_codecs
    if path.exists():
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(EXAMPLE_EXTERNAL_CODECS, encoding="utf-8")
    return f"declared example command-line codecs (cwebp, cjpeg) in {path}"


def skimage_data_dir() -> Path:
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("scikit-image is not installed; run `make demo` to install it")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def build_demo_folder(target: Path) -> Path:
    """Gather the demo images in one folder (copies of package files plus the test card)."""
    target.mkdir(parents=True, exist_ok=True)
    data_dir = skimage_data_dir()
    for name in SKIMAGE_FILES:
        source = data_dir / name
        if source.exists() and not (target / name).exists():
            shutil.copyfile(source, target / name)
    card = target / "miscomp-test-card.png"
    if not card.exists():
        draw_test_card().save(card)
    return target


def ensure_demo_dataset(session: Session) -> Dataset:
    dataset = dataset_service.find_dataset_by_name(session, DEMO_DATASET)
    if dataset is None:
        dataset = dataset_service.create_dataset(
            session,
            DatasetCreate(
                name=DEMO_DATASET,
                description=DEMO_DESCRIPTION,
                source="scikit-image (PyPI) data module; miscomp test card",
                license=DEMO_LICENSE,
            ),
            actor=None,
        )
    return dataset


DEMO_RUN_IMAGES = ("miscomp-test-card.png", "astronaut.png", "coffee.png", "chelsea.png")
"""The images the demo's runs code: the test card's symbols and three colour photographs, so
that a CPU worker finishes both runs in about a minute."""
DEMO_DESCRIPTION = (
    "Real photographs and a symbol test card for trying the platform. The demo's codec runs "
    f"code {len(DEMO_RUN_IMAGES)} of these images (the test card, astronaut, coffee and "
    "chelsea) so that a CPU finishes them in about a minute; queue a run over every image "
    "from Runs, New run."
)
DEMO_NEURAL_CODEC = "miscomp-mbt-low"
"""The project's own shipped low-rate model: trained weights that need no download."""


def ensure_demo_runs(session: Session, dataset: Dataset) -> list[str]:
    """Queue the demo's codec runs once: a neural run with matched JPEG, and a WebP run."""
    from sqlalchemy import select

    from app.codec_runs import service as run_service
    from app.codec_runs.schemas import RunCreate
    from app.datasets.models import Image
    from app.domain.codecs import registry

    image_ids = list(
        session.scalars(
            select(Image.id)
            .where(Image.dataset_id == dataset.id, Image.filename.in_(DEMO_RUN_IMAGES))
            .order_by(Image.id)
        )
    )
    if not image_ids:
        return []
    existing = {
        (run.codec, str(sorted(run.params.items())))
        for run in run_service.list_runs(session, dataset_id=dataset.id)
    }
    wanted: list[tuple[str, dict[str, object]]] = [("webp", {"quality": 8})]
    messages = []
    if registry.availability(DEMO_NEURAL_CODEC).available:
        wanted.insert(0, (DEMO_NEURAL_CODEC, {}))
    else:
        messages.append("neural demo run skipped: PyTorch and CompressAI are not installed")
    for codec, params in wanted:
        validated = registry.validate(codec, dict(params))
        if (codec, str(sorted(validated.items()))) in existing:
            continue
        run = run_service.create_run(
            session,
            RunCreate(
                dataset_id=dataset.id,
                codec=codec,
                params=dict(params),
                image_ids=image_ids,
                match_jpeg=True,
            ),
            actor=None,
        )
        messages.append(f"queued codec run {run.id}: {codec} {validated}")
    return messages


DEMO_STUDY = "demo-study"
DEMO_STUDY_INSTRUCTIONS = """Compare each pane with the **original**. Is the semantic content
different (an observer would describe them differently)? If so, choose *Miscompression* and
every category that applies; add SYMBOL when the object is a symbol (digits, letters, signs).
Press `?` for the definitions."""


def _demo_neural_run(session: Session) -> Any:
    """The latest codec run of the demo's neural codec, or None."""
    from sqlalchemy import select

    from app.codec_runs.models import CodecRun

    return session.scalar(
        select(CodecRun)
        .where(CodecRun.codec == DEMO_NEURAL_CODEC)
        .order_by(CodecRun.id.desc())
        .limit(1)
    )


def ensure_demo_study(session: Session) -> str | None:
    """A blind study with three raters per item over the demo's neural run, once. The workers
    propose its crops as soon as the run has finished."""
    from sqlalchemy import select

    from app.studies import service as study_service
    from app.studies.models import Study
    from app.studies.schemas import StudyCreate

    if session.scalar(select(Study.id).where(Study.name == DEMO_STUDY)) is not None:
        return None
    run = _demo_neural_run(session)
    if run is None:
        return "demo study skipped: there is no neural demo run"
    study = study_service.create_study(
        session,
        StudyCreate(
            name=DEMO_STUDY,
            instructions=DEMO_STUDY_INSTRUCTIONS,
            run_ids=[run.id],
            crop_sizes=[64, 128],
            items=24,
            planted_controls=True,
            raters_per_item=3,
            panes=list(pane_names.DEFAULT),
        ),
        actor=None,
    )
    return f"created study {study.id} {DEMO_STUDY!r} (k=3, blind) over codec run {run.id}"


DEMO_SIMULATED_STUDY = "demo-study-simulated-labels"
SIMULATED_INSTRUCTIONS = """**The labels of this study are simulated by the demo, not given
by people.** Three simulated raters label every item so that the agreement and prevalence
pages have something to show; their verdicts follow the crop's proposal method (text changes
found by OCR, distortion-guided regions, random positions) and a planted change, with noise.
Nothing measured here says anything about the codec."""


def ensure_demo_simulated_study(session: Session) -> str | None:
    """A second study over the demo's neural run, labelled by three simulated raters
    (``miscomp studies simulate``), so that agreement and prevalence can be read at once."""
    from sqlalchemy import select

    from app.studies import service as study_service
    from app.studies import simulation
    from app.studies.models import Study
    from app.studies.schemas import StudyCreate

    if session.scalar(select(Study.id).where(Study.name == DEMO_SIMULATED_STUDY)) is not None:
        return None
    run = _demo_neural_run(session)
    if run is None:
        return None
    study = study_service.create_study(
        session,
        StudyCreate(
            name=DEMO_SIMULATED_STUDY,
            instructions=SIMULATED_INSTRUCTIONS,
            run_ids=[run.id],
            crop_sizes=[64, 128],
            items=40,
            planted_controls=True,
            raters_per_item=3,
        ),
        actor=None,
    )
    simulation.start(session, study, simulation.SimulationSettings(raters=3))
    return f"created study {study.id} {DEMO_SIMULATED_STUDY!r} whose labels the demo simulates"
