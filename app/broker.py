"""The Celery application as the broker sees it: one configuration for the processes that
send tasks (web, CLI, workers) and for the workers that run them (``workers.celery_app`` adds
the task modules). Tasks take ids, never objects; their names and queues are declared per
feature (``app/*/task_names.py``) and routed here."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from celery import Celery
from kombu.exceptions import ChannelError
from kombu.exceptions import OperationalError as KombuOperationalError
from redis import RedisError

from app.codec_runs import task_names as codec_run_tasks
from app.codec_weights import task_names as codec_weight_tasks
from app.config import Settings, get_settings
from app.datasets import task_names as dataset_tasks
from app.detector import task_names as detector_tasks
from app.exports import task_names as export_tasks
from app.jobs import TaskSpec
from app.pair_audits import task_names as pair_audit_tasks
from app.studies import task_names as study_tasks

QUEUES = ("cpu", "gpu", "post")
"""cpu: classical codecs and imports; gpu: neural codecs; post: metrics, maps, JPEG matching."""


ALL_TASKS: tuple[TaskSpec, ...] = (
    *dataset_tasks.TASKS,
    *codec_run_tasks.TASKS,
    *codec_weight_tasks.TASKS,
    *study_tasks.TASKS,
    *export_tasks.TASKS,
    *pair_audit_tasks.TASKS,
    *detector_tasks.TASKS,
)


def make_celery(settings: Settings, *, include: Sequence[str] = ()) -> Celery:
    """``include``: the modules that define the tasks, for a worker; a sender needs none."""
    app = Celery("miscomp", include=list(include))
    app.conf.broker_url = settings.broker_url
    if settings.is_embedded_broker:
        app.conf.broker_transport = "app.embedded_broker:AtomicFilesystemTransport"
        queue_dir = settings.broker_dir / "queue"
        processed = settings.broker_dir / "processed"
        # Exchange tables: kombu's default is "control" in the working directory.
        control = settings.broker_dir / "control"
        for folder in (queue_dir, processed, control):
            folder.mkdir(parents=True, exist_ok=True)
        app.conf.broker_transport_options = {
            "data_folder_in": str(queue_dir),
            "data_folder_out": str(queue_dir),
            "processed_folder": str(processed),
            "control_folder": str(control),
            "store_processed": False,
        }
    else:
        visibility = settings.task_visibility_timeout_s
        app.conf.broker_transport_options = {
            "visibility_timeout": visibility,
            # Sweep for the tasks of killed workers often enough for the timeout to matter.
            "unacked_restore_interval": max(1, min(10, visibility // 3)),
            "unacked_restore_throttle": 1,
        }
    app.conf.update(
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue="cpu",
        task_routes={task.name: {"queue": task.queue} for task in ALL_TASKS},
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    return app


@cache
def sender() -> Celery:
    """The Celery application a process sends tasks with, built on first use: a web process
    that never queues anything never loads Celery."""
    return make_celery(get_settings())


class BrokerUnavailable(RuntimeError):
    """The broker did not answer (Redis down or restarting)."""


BROKER_LOST: tuple[type[BaseException], ...] = (
    KombuOperationalError,
    RedisError,
    ConnectionError,
    OSError,
)
"""What talking to the broker raises while it is down: kombu's wrapper, the Redis client's
own errors (when asked directly), the socket's."""


def queue_depths(app: Celery, queues: Sequence[str] = QUEUES) -> dict[str, int]:
    """How many messages wait in each queue (not counting those a worker holds unacknowledged).
    Raises :class:`BrokerUnavailable` when the broker cannot be reached."""
    depths: dict[str, int] = {}
    try:
        with app.connection_for_read() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
            channel = connection.default_channel
            for queue in queues:
                try:
                    depths[queue] = channel.queue_declare(queue=queue, passive=True).message_count
                except ChannelError:
                    depths[queue] = 0  # never declared, or emptied: Redis drops an empty list
    except BROKER_LOST as exc:
        raise BrokerUnavailable(f"the broker at {app.conf.broker_url} did not answer") from exc
    return depths
