"""Sent by the worker when an extraction ends (done or failed), so the apps that asked for it can use it."""

from django.dispatch import Signal

extraction_finished = Signal()  # kwargs: extraction
