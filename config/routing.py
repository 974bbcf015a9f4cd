from django.urls import path

from config.consumers import OpsConsumer
from studio.consumers import GenerationConsumer
from training.consumers import RunConsumer

websocket_urlpatterns = [
    path("ws/ops/", OpsConsumer.as_asgi()),
    path("ws/runs/<int:run_id>/", RunConsumer.as_asgi()),
    path("ws/generations/<int:generation_id>/", GenerationConsumer.as_asgi()),
]
