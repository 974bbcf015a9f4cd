"""Sent when new clips arrive in a dataset, before they are checked, so the layers above can add their part
(the wizard asks prep for references made on the server) without the datasets importing them."""

from django.dispatch import Signal

clips_arrived = Signal()  # kwargs: dataset
