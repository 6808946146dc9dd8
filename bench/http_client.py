"""A lean HTTP/1.1 client for the simulated annotators: one keep-alive connection per
annotator, the cookies the server sets, nothing else.

The benchmark's clients run on the server's machine (loopback), where every millisecond of
CPU they spend is taken from the server they measure; people's browsers run elsewhere.
httpx spent about 1.2 ms of CPU a request here, this client a fraction of it, which the
server gets back.
"""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode, urlsplit

IDLE_REOPEN_S = 4.0
"""A connection idle this long is opened anew before it is used: the server closes idle
keep-alive connections after 5 s (uvicorn's default), and a request sent as it does would
fail for no fault of the server's."""


class HTTPError(Exception):
    """The request could not be sent or its answer not read."""


@dataclass
class Response:
    status_code: int
    headers: dict[str, str]
    """Lower-cased names."""
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


@dataclass
class Client:
    base_url: str
    timeout: float = 60.0
    cookies: dict[str, str] = field(default_factory=dict)
    _connection: http.client.HTTPConnection | None = None
    _used_at: float = 0.0

    def get(self, path: str, headers: dict[str, str] | None = None) -> Response:
        return self._request("GET", path, None, headers or {})

    def post(
        self,
        path: str,
        data: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        body = urlencode(data or {}).encode()
        sent = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
        return self._request("POST", path, body, sent)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _open(self) -> http.client.HTTPConnection:
        if self._connection is None or time.monotonic() - self._used_at > IDLE_REOPEN_S:
            self.close()
            parts = urlsplit(self.base_url)
            self._connection = http.client.HTTPConnection(
                parts.hostname or "127.0.0.1", parts.port, timeout=self.timeout
            )
        return self._connection

    def _request(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> Response:
        sent = dict(headers)
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        connection = self._open()
        try:
            connection.request(method, path, body=body, headers=sent)
            answer = connection.getresponse()
            content = answer.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise HTTPError(f"{method} {path}: {exc!r}") from exc
        self._used_at = time.monotonic()
        for value in answer.headers.get_all("Set-Cookie") or []:
            cookie = SimpleCookie()
            cookie.load(value)
            for name, morsel in cookie.items():
                if morsel["max-age"] == "0" or "1970" in morsel["expires"] or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        if answer.will_close:
            self.close()
        return Response(answer.status, {k.lower(): v for k, v in answer.headers.items()}, content)
