from django.urls import path

from config.consumers import OpsConsumer
from training.consumers import RunConsumer

websocket_urlpatterns = [
    path("ws/ops/", OpsConsumer.as_asgi()),
    path("ws/runs/<int:run_id>/", RunConsumer.as_asgi()),
]
