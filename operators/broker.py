"""How many tasks wait in each queue on the broker (Redis), read straight from its lists.

kombu's Redis transport with `queue_order_strategy: priority` keeps one list per priority level
(`<queue>`, `<queue><sep>3`, …), every key behind the `global_keyprefix`; a queue's length is the sum.
Tasks a worker has already taken (running or reserved) are not in these lists: Celery inspect shows those.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry

# kombu's own defaults, for a transport configured without them.
KOMBU_SEP = "\x06\x16"
KOMBU_PRIORITY_STEPS = [0, 3, 6, 9]


@dataclass(frozen=True)
class QueueLength:
    queue: str
    waiting: int
    by_priority: dict[int, int]  # broker priority (0 is taken first) → waiting tasks, non-empty levels only


class BrokerUnavailable(Exception):
    """Redis did not answer; the message says why, in plain words."""


def priority_keys(queue: str) -> dict[int, str]:
    """The Redis key of each priority level of `queue`, as kombu names them."""
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    prefix = str(options.get("global_keyprefix", ""))
    sep = str(options.get("sep", KOMBU_SEP))
    configured = cast(Iterable[int], options.get("priority_steps", KOMBU_PRIORITY_STEPS))
    steps = sorted({int(step) for step in configured})
    return {step: f"{prefix}{queue}{sep}{step}" if step else f"{prefix}{queue}" for step in steps}


def queue_lengths(queues: Iterable[str] | None = None, timeout: float = 1.0) -> list[QueueLength]:
    """Waiting tasks per queue (default: every queue workers serve). Raises BrokerUnavailable."""
    names = list(queues if queues is not None else settings.WORKER_QUEUES)
    keys = {name: priority_keys(name) for name in names}
    try:
        client = _client(timeout)
        with client.pipeline(transaction=False) as pipe:
            for levels in keys.values():
                for key in levels.values():
                    pipe.llen(key)
            counts = iter(pipe.execute())
    except (redis.RedisError, OSError) as error:
        raise BrokerUnavailable(f"The broker (Redis) did not answer: {error}") from error
    result = []
    for name, levels in keys.items():
        by_priority = {step: int(next(counts)) for step in levels}
        result.append(QueueLength(name, sum(by_priority.values()), {p: n for p, n in by_priority.items() if n}))
    return result


def broker_answers(timeout: float = 1.0) -> bool:
    """Whether Redis answers now; checked before asking workers anything, which would otherwise retry for long."""
    try:
        return bool(_client(timeout).ping())
    except (redis.RedisError, OSError):
        return False


def _client(timeout: float) -> Any:
    client = settings.REDIS.client(timeout=timeout)
    # One try only: a page reports a down broker at once rather than retrying while the operator waits.
    client.set_retry(Retry(NoBackoff(), 0))
    return client
