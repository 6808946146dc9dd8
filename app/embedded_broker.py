"""The embedded broker of `make demo`: kombu's filesystem transport, with each message
written atomically.

Kombu writes a message by opening its final file name and then writing into it. A worker
polling the folder in between moves the still-empty file away, reads nothing and dies on
the JSON it cannot decode (seen under load: the demo's worker stopped, its imports stayed
queued). Here a message is written under a name no queue matches and renamed into place
once whole; a rename within one folder is atomic."""

from __future__ import annotations

import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils import json as kombu_json

PARTIAL_PREFIX = "."
"""A message being written: kombu's consumer takes a file whose name, after its first dot,
is ``QUEUE.msg``; a leading dot makes that the whole name, which no queue matches."""


def _dumps(payload: Any) -> str:
    """Kombu's own JSON encoding of a message, as its filesystem transport writes it."""
    encoded: str = kombu_json.dumps(payload)  # type: ignore[no-untyped-call]
    return encoded


class AtomicFilesystemChannel(filesystem.Channel):
    # The signature of kombu's filesystem channel, which its base class calls with keywords.
    def _put(self, queue: Any, payload: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = os.path.join(self.data_folder_out, f"{PARTIAL_PREFIX}{name}.part")
        try:
            with open(partial, "wb") as handle:
                handle.write(_dumps(payload).encode())
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class AtomicFilesystemTransport(filesystem.Transport):
    Channel = AtomicFilesystemChannel
