"""Templates: one Jinja template serves a full page or, for htmx, just one block of it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, cast

from fastapi import Request
from fastapi.responses import FileResponse, Response, StreamingResponse
from jinja2 import pass_context
from jinja2.runtime import Context
from jinja2_fragments.fastapi import Jinja2Blocks

from app.auth.dependencies import csrf_token_for
from app.config import PROJECT_ROOT, get_settings
from app.domain import names
from app.domain.figures import FORMATS, FigureFormat
from app.errors import NotFound
from app.storage import LocalMediaStorage, media_storage

templates = Jinja2Blocks(directory=str(PROJECT_ROOT / "templates"))


_PATHS: dict[tuple[object, ...], str] = {}
PATHS_KEPT = 10_000


@pass_context
def path_for(context: Context, name: str, /, **path_params: Any) -> str:
    """The path of a named route (``static`` included), for templates: ``url_for`` gives an
    absolute URL, while pages link by path (behind the app's root path, if any)."""
    return route_path(context["request"], name, path_params)


def paths_of(request: Request) -> Callable[..., str]:
    """``path_for`` for the code that builds a page's data (the viewer's image URLs)."""

    def path(name: str, /, **path_params: Any) -> str:
        return route_path(request, name, path_params)

    return path


def route_path(request: Request, name: str, path_params: dict[str, Any]) -> str:
    """The path of a named route. Kept once found (up to ``PATHS_KEPT`` of them): the router
    finds a name by trying its routes one by one, and a page names dozens."""
    # The router by identity (routers compare by value, and are no keys): every application
    # this code makes has the same routes, so an id reused after one is gone finds the same.
    key = (id(request.app.router), request.scope.get("root_path", ""), name, *path_params.items())
    try:
        path = _PATHS.get(key)
    except TypeError:  # a value that cannot be a key: found each time
        return request.url_for(name, **path_params).path
    if path is None:
        path = request.url_for(name, **path_params).path
        if len(_PATHS) < PATHS_KEPT:
            _PATHS[key] = path
    return path


templates.env.globals["path_for"] = path_for


def is_htmx(request: Request) -> bool:
    """Whether htmx sent the request (it then swaps the answer into the page)."""
    return request.headers.get("HX-Request") == "true"


def wants_fragment(request: Request) -> bool:
    """Whether ``render`` answers with a template's block alone: an htmx request that is not
    restoring its history (which needs the whole page)."""
    return is_htmx(request) and request.headers.get("HX-History-Restore-Request") != "true"


def render(
    request: Request,
    name: str,
    ctx: dict[str, Any] | None = None,
    *,
    block: str | None = None,
    status_code: int = 200,
) -> Response:
    fragment = block is not None and wants_fragment(request)
    context = {
        "user": getattr(request.state, "viewer", None),
        "csrf_token": csrf_token_for(request),
        **(ctx or {}),
    }
    response: Response = templates.TemplateResponse(
        request, name, context, status_code=status_code, block_name=block if fragment else None
    )
    response.headers["Vary"] = "HX-Request"
    return response


MEDIA_CACHE = "private, max-age=31536000, immutable"


def stored_file(
    key: str, media_type: str, headers: dict[str, str] | None = None, *, what: str = "file"
) -> Response:
    """A stored file, byte for byte, from whichever storage the settings name: the local
    folder's file as it is, or an S3 object streamed through this process (the browser
    never learns the bucket, and the page's URL is the same on both)."""
    storage = media_storage(get_settings())
    if isinstance(storage, LocalMediaStorage):
        path = storage.local_path(key)
        if not path.is_file():
            raise NotFound(f"the stored {what} is missing from the media storage")
        return FileResponse(path, media_type=media_type, headers=headers)
    try:
        stored = storage.open(key)
    except FileNotFoundError:
        raise NotFound(f"the stored {what} is missing from the media storage") from None
    return StreamingResponse(
        stored.chunks,
        media_type=media_type,
        headers={**(headers or {}), "Content-Length": str(stored.size)},
    )


def media_file(key: str, media_type: str) -> Response:
    """A stored image, never re-encoded; content-addressed, so cacheable."""
    return stored_file(key, media_type, {"Cache-Control": MEDIA_CACHE})


def uniform_media(key: str, media_type: str) -> Response:
    """A stored file under headers that say nothing but its type and length: no ETag and no
    Last-Modified, which would carry the file's write time and inode (blind panes written
    one after the other would differ in them). Read whole, from either storage, and answered
    from memory: crops are small, and the same code path serves every pane."""
    try:
        body = media_storage(get_settings()).read(key)
    except FileNotFoundError:
        raise NotFound("the stored file is missing from the media storage") from None
    return media_response(body, media_type)


def media_response(body: bytes, media_type: str) -> Response:
    """``uniform_media``'s answer for a file already read (``app.signed_media_asgi`` too)."""
    return Response(body, media_type=media_type, headers={"Cache-Control": MEDIA_CACHE})


def hx_redirect(request: Request, url: str) -> Response:
    """After an htmx POST, tell htmx to navigate; plain forms get a 303."""
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return Response(status_code=303, headers={"Location": url})


def figure_format(fmt: str) -> FigureFormat:
    """The format a figure route was asked for; NotFound for one it cannot render."""
    if fmt not in FORMATS:
        raise NotFound(f"no {fmt!r} format; choose from {', '.join(FORMATS)}")
    return cast(FigureFormat, fmt)


def download_headers(
    filename: str, disposition: Literal["inline", "attachment"] = "attachment"
) -> dict[str, str]:
    """Headers for every response the platform offers to save: the file name comes from
    users' names (any script, even legacy rows with quotes or line breaks), so it is written
    as RFC 6266 ``filename*`` with an ASCII fallback (``names.content_disposition``)."""
    return {"Content-Disposition": names.content_disposition(filename, disposition)}


def figure_response(body: bytes, fmt: FigureFormat, filename: str) -> Response:
    """A rendered figure, shown in the browser and saved under ``filename``."""
    return Response(body, media_type=FORMATS[fmt], headers=download_headers(filename, "inline"))
