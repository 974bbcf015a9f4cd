from django.urls import path

from wizard import views, views_captions, views_derive, views_resumable

app_name = "wizard"

urlpatterns = [
    path("", views.index, name="index"),
    path("recipes/<slug:slug>/", views.recipe_detail, name="recipe_detail"),
    path("start/", views.start, name="start"),
    path("<int:draft_id>/", views.resume, name="resume"),
    path("<int:draft_id>/recipe/", views.recipe_step, name="recipe"),
    path("<int:draft_id>/clips/", views.clips_step, name="clips"),
    path("<int:draft_id>/clips/pairs/", views.pairs_partial, name="pairs"),
    path("<int:draft_id>/clips/upload/", views.upload, name="upload"),
    path("<int:draft_id>/uploads/", views_resumable.upload_start, name="upload_start"),
    path("<int:draft_id>/uploads/<uuid:key>/", views_resumable.upload_piece, name="upload_piece"),
    path("<int:draft_id>/uploads/<uuid:key>/discard/", views_resumable.discard_upload, name="upload_discard"),
    path("<int:draft_id>/uploads/unfinished/", views_resumable.unfinished_uploads, name="unfinished_uploads"),
    path("<int:draft_id>/pairs/<int:pair_id>/caption/", views.save_caption, name="caption"),
    path("<int:draft_id>/pairs/<int:pair_id>/rederive/", views_derive.rederive_pair, name="rederive"),
    path("<int:draft_id>/derive/<slug:method>/", views_derive.derive_settings, name="derive_settings"),
    path("<int:draft_id>/derive/<slug:method>/preview/", views_derive.derive_preview, name="derive_preview"),
    path("<int:draft_id>/captions/auto/", views_derive.auto_captions, name="auto_captions"),
    path("<int:draft_id>/captions/all/", views_captions.bulk_captions, name="bulk_captions"),
    path("<int:draft_id>/pairs/<int:pair_id>/delete/", views.delete_pair, name="delete_pair"),
    path("<int:draft_id>/pairs/<int:pair_id>/split/", views.split_pair, name="split_pair"),
    path("<int:draft_id>/pairs/split/", views.split_all, name="split_all"),
    path("<int:draft_id>/files/<int:file_id>/delete/", views.delete_file, name="delete_file"),
    path("<int:draft_id>/settings/", views.settings_step, name="settings"),
    path("<int:draft_id>/launch/", views.launch_step, name="launch"),
    path("files/<int:file_id>/", views.media, name="media"),
    path("files/<int:file_id>/poster/", views.poster, name="poster"),
    path("files/<int:file_id>/preview/", views.preview, name="preview"),
    path("datasets/<int:dataset_id>/", views.dataset_detail, name="dataset"),
    path("datasets/<int:dataset_id>/download/", views.dataset_download, name="dataset_download"),
    path("datasets/<int:dataset_id>/delete/", views.dataset_delete, name="dataset_delete"),
    path("datasets/<int:dataset_id>/new-training/", views.new_training, name="new_training"),
]
