from django.urls import path

from operators import views

app_name = "operators"

urlpatterns = [
    path("queues/", views.queues, name="queues"),
    path("storage/", views.storage, name="storage"),
    path("storage/clean-caches/", views.clean_caches, name="clean_caches"),
    path("models/", views.models, name="models"),
]
