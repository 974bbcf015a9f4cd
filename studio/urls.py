from django.urls import path

from studio import views

urlpatterns = [
    path("", views.home, name="home"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("runs/<int:run_id>/", views.run_detail, name="run_detail"),
    path("runs/<int:run_id>/events/", views.run_events, name="run_events"),
    path("runs/<int:run_id>/part/<slug:part>/", views.run_part, name="run_part"),
    path("runs/<int:run_id>/<slug:action>/", views.run_action, name="run_action"),
    path("checkpoints/<int:checkpoint_id>/continue/", views.checkpoint_continue, name="checkpoint_continue"),
    path("checkpoints/<int:checkpoint_id>/download/", views.checkpoint_download, name="checkpoint_download"),
    path("adapters/<int:adapter_id>/download/", views.adapter_download, name="adapter_download"),
    path("samples/<int:sample_id>/video/", views.sample_video, name="sample_video"),
]
