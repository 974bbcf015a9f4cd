import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core import mail

from tests.factories import make_run
from training.models import TrainingRun
from training.notify import notify_run_ended

pytestmark = pytest.mark.django_db
State = TrainingRun.State


def test_the_creator_gets_an_email_with_a_link_when_a_run_succeeds(creator, settings):
    settings.SITE_URL = "https://studio.example.com"
    run = make_run(creator, state=State.SUCCEEDED, name="Depth v3", state_reason="Your adapter “Depth v3” is ready.")
    notify_run_ended(run.pk)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [creator.email]
    assert message.subject == "Your adapter “Depth v3” is ready"
    assert f"https://studio.example.com/runs/{run.pk}/" in message.body


def test_no_email_while_a_run_is_only_going_back_to_the_queue(creator):
    notify_run_ended(make_run(creator, state=State.QUEUED).pk)
    assert mail.outbox == []


def test_a_configured_webhook_receives_the_end_of_a_run(creator, settings):
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.handle_request)
    thread.start()
    settings.RUN_WEBHOOK_URL = f"http://127.0.0.1:{server.server_port}/hook"
    run = make_run(creator, state=State.FAILED, name="Pose", state_reason="The GPU ran out of memory.")
    notify_run_ended(run.pk)
    thread.join(5)
    server.server_close()
    assert received == [{
        "run": run.pk, "name": "Pose", "state": "failed", "reason": "The GPU ran out of memory.",
        "url": f"{settings.SITE_URL}/runs/{run.pk}/", "owner": creator.username,
    }]


def test_a_webhook_that_does_not_answer_does_not_break_anything(creator, settings):
    settings.RUN_WEBHOOK_URL = "http://127.0.0.1:9/nobody-listens"
    notify_run_ended(make_run(creator, state=State.CANCELLED).pk)
    assert len(mail.outbox) == 1
