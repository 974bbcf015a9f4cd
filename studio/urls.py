from django.urls import path

from studio.views import adapters as adapter_views
from studio.views import controls, generate, pages, runs, tracks

urlpatterns = [
    path("", pages.home, name="home"),
    path("dashboard/", pages.dashboard, name="dashboard"),
    path("runs/<int:run_id>/", runs.run_detail, name="run_detail"),
    path("runs/<int:run_id>/events/", runs.run_events, name="run_events"),
    path("runs/<int:run_id>/delete/", runs.run_delete, name="run_delete"),
    path("runs/<int:run_id>/validation/<int:index>/reference/", runs.validation_reference,
         name="validation_reference"),
    path("runs/<int:run_id>/validation/<int:index>/poster/", runs.validation_reference_poster,
         name="validation_reference_poster"),
    path("runs/<int:run_id>/part/<slug:part>/", runs.run_part, name="run_part"),
    path("runs/<int:run_id>/train-again/", runs.run_train_again, name="run_train_again"),
    path("runs/<int:run_id>/<slug:action>/", runs.run_action, name="run_action"),
    path("checkpoints/<int:checkpoint_id>/continue/", runs.checkpoint_continue, name="checkpoint_continue"),
    path("checkpoints/<int:checkpoint_id>/download/", runs.checkpoint_download, name="checkpoint_download"),
    path("adapters/<int:adapter_id>/download/", runs.adapter_download, name="adapter_download"),
    path("samples/<int:sample_id>/video/", runs.sample_video, name="sample_video"),
    path("samples/<int:sample_id>/poster/", runs.sample_poster, name="sample_poster"),
]

urlpatterns += [
    path("studio/", generate.studio, name="studio"),
    path("studio/gallery/", generate.gallery, name="studio_gallery"),
    path("studio/generations/<int:generation_id>/", generate.generation_detail, name="studio_generation"),
    path("studio/generations/<int:generation_id>/status/", generate.generation_status,
         name="studio_generation_status"),
    path("studio/generations/<int:generation_id>/cancel/", generate.generation_cancel, name="studio_cancel"),
    path("studio/generations/<int:generation_id>/delete/", generate.generation_delete, name="studio_delete"),
    path("studio/generations/<int:generation_id>/<slug:kind>.mp4", generate.generation_media, name="studio_media"),
    path("studio/generations/<int:generation_id>/<slug:kind>.jpg", generate.generation_poster,
         name="studio_poster"),
    path("studio/adapters/upload/", adapter_views.adapter_upload, name="studio_adapter_upload"),
    path("studio/adapters/<int:adapter_id>/", adapter_views.adapter_detail, name="studio_adapter"),
    path("studio/adapters/<int:adapter_id>/delete/", adapter_views.adapter_delete, name="studio_adapter_delete"),
    path("studio/controls/", controls.controls, name="studio_controls"),
    path("studio/controls/<int:extraction_id>/", controls.control_detail, name="studio_control"),
    path("studio/tracks/render/", tracks.tracks_render, name="studio_tracks_render"),
    path("studio/tracks/from-clip/", tracks.tracks_from_clip, name="studio_tracks_from_clip"),
    path("studio/tracks/from-clip/<int:extraction_id>/", tracks.tracks_from_clip_status, name="studio_tracks_clip"),
]
