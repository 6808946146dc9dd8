"""The taxonomy's admin pages: its versions, and a form that saves the next one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile

from app.auth.dependencies import AnyUser, TaxonomyEditor
from app.config import get_settings
from app.db import SessionDep
from app.domain import taxonomy
from app.domain.images import ImageRejected
from app.domain.validation import validation_message
from app.errors import UserError
from app.storage import media_storage, taxonomy_example_key
from app.studies import service, taxonomies
from app.studies.schemas import CategoryRow
from app.web import hx_redirect, media_file, render

router = APIRouter(tags=["taxonomy"])

ROW_FIELDS = ("key", "label", "kind", "shortcut", "description", "example")
ROW_FLAGS = ("remove", "remove_example")


async def submitted_form(request: Request) -> FormData:
    """The request's form (read once: the CSRF check read it already), for a sync route
    whose fields are numbered per row."""
    return await request.form()


@router.get("/admin/taxonomy", name="taxonomy_list")
def taxonomy_list(request: Request, user: TaxonomyEditor, session: SessionDep) -> Response:
    return render(request, "taxonomy/list.html", {"versions": taxonomies.list_versions(session)})


def _is_version(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 9


def _edit_page(
    request: Request,
    rows: list[dict[str, Any]],
    base_version: int | str,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "taxonomy/edit.html",
        {
            "rows": rows,
            "base_version": base_version,
            "next_version": int(base_version) + 1 if _is_version(str(base_version)) else None,
            "kinds": taxonomy.KINDS,
            "error": error,
        },
        status_code=status_code,
    )


@router.get("/admin/taxonomy/edit", name="taxonomy_edit")
def taxonomy_edit(request: Request, user: TaxonomyEditor, session: SessionDep) -> Response:
    current = service.default_taxonomy(session)
    return _edit_page(request, taxonomies.form_rows(current), current.version)


def _typed_rows(form: FormData) -> list[dict[str, Any]]:
    """The rows as typed: ``key-0``, ``label-0``... up to the first row the form lacks."""
    rows = []
    for i in range(taxonomy.MAX_CATEGORIES + 1):
        if f"key-{i}" not in form:
            break
        row: dict[str, Any] = {}
        for name in ROW_FIELDS:
            value = form.get(f"{name}-{i}")
            row[name] = value if isinstance(value, str) else ""
        for flag in ROW_FLAGS:
            row[flag] = form.get(f"{flag}-{i}") == "true"
        # Only a digest this site gave the form names an example (a page shows it).
        row["example"] = (
            row["example"] if taxonomy.EXAMPLE_DIGEST.fullmatch(row["example"]) else None
        )
        rows.append(row)
    return rows


@router.post("/admin/taxonomy", name="taxonomy_save")
def taxonomy_save(
    request: Request,
    user: TaxonomyEditor,
    session: SessionDep,
    form: Annotated[FormData, Depends(submitted_form)],
) -> Response:
    """Saves the next version. A refused form comes back as typed, its uploaded examples
    kept (stored already, named by their digest), with every problem in plain words."""
    settings = get_settings()
    storage = media_storage(settings)
    typed = _typed_rows(form)
    base = form.get("base_version")
    base_text = base if isinstance(base, str) else ""
    problems: list[str] = []
    for i, row in enumerate(typed):
        upload = form.get(f"example_file-{i}")
        if isinstance(upload, UploadFile) and upload.filename:
            try:
                row["example"] = taxonomies.store_example(
                    storage, upload.file.read(), max_pixels=settings.max_image_pixels
                )
                row["remove_example"] = False
            except ImageRejected as exc:
                problems.append(f"row {i + 1}: example image {upload.filename}: {exc}")
    rows: list[CategoryRow] = []
    for i, row in enumerate(typed):
        try:
            rows.append(CategoryRow.model_validate(row))
        except ValidationError as exc:
            problems.append(validation_message(exc.errors(), within=f"row {i + 1}"))
    if not _is_version(base_text):
        problems.append("the form lacks the version it edits; reload it")
    if problems:
        return _edit_page(request, typed, base_text, error="; ".join(problems), status_code=422)
    try:
        taxonomies.save_version(session, storage, rows, base_version=int(base_text), actor=user)
    except UserError as exc:
        return _edit_page(request, typed, base_text, error=exc.message, status_code=exc.status_code)
    return hx_redirect(request, "/admin/taxonomy")


@router.get("/media/taxonomy/{digest}.png", name="taxonomy_example")
def taxonomy_example(
    digest: Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")], user: AnyUser
) -> Response:
    """A category's example crop, shown to everyone who labels or edits with it (the digest
    names its pixels; nothing else in storage can be reached through it)."""
    return media_file(taxonomy_example_key(digest), "image/png")
