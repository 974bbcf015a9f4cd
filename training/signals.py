"""Sent by the training worker, so the apps above training can take their part without training importing them."""

from django.dispatch import Signal

# kwargs: run, path (the adapter file the trainer wrote). The Studio answers with the Adapter it stored
# (studio.adapters.store_trained): a finished run's adapter belongs to the Studio, which tries and serves it.
adapter_trained = Signal()
