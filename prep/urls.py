from django.urls import path

from prep import views

app_name = "prep"

urlpatterns = [
    path("extractions/<int:extraction_id>/video/", views.output, name="output"),
    path("extractions/<int:extraction_id>/source/", views.source, name="source"),
    path("extractions/<int:extraction_id>/video/poster/", views.output_poster, name="output_poster"),
    path("extractions/<int:extraction_id>/source/poster/", views.source_poster, name="source_poster"),
    path("extractions/<int:extraction_id>/", views.status, name="status"),
]
