"""Runs an operator moved up leave the queue first, through the real broker."""

import uuid

import pytest

from tests.factories import make_run, sent_tasks
from training.runs import broker_priority, launch_run

pytestmark = pytest.mark.django_db


def test_a_run_with_a_higher_priority_is_sent_with_a_lower_broker_number(
    creator, django_capture_on_commit_callbacks
):
    urgent, normal = make_run(creator, priority=3), make_run(creator)
    assert (broker_priority(urgent), broker_priority(normal)) == (2, 5)
    with django_capture_on_commit_callbacks() as callbacks:
        launch_run(urgent)
    assert sent_tasks(callbacks) == [("training.tasks.train_run", (urgent.pk,))]
    [send] = [c for c in callbacks if getattr(getattr(c, "func", None), "__name__", "") == "apply_async"]
    assert send.keywords["priority"] == 2


def test_the_broker_hands_out_the_most_urgent_message_first():
    from config.celery import app
    from training.tasks import train_run

    queue = f"priority-test-{uuid.uuid4().hex[:8]}"  # no worker listens here
    for run_id, priority in ((1, 9), (2, 5), (3, 0), (4, 5)):
        train_run.apply_async(args=[run_id], queue=queue, priority=priority)
    order = []
    with app.connection_for_read() as connection:
        simple = connection.SimpleQueue(queue)
        for _ in range(4):
            message = simple.get(block=True, timeout=5)
            order.append(message.payload[0][0])
            message.ack()
        simple.close()
    assert order == [3, 2, 4, 1]
