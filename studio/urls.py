from django.urls import path

from studio import views

urlpatterns = [
    path("", views.home, name="home"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("runs/<int:run_id>/", views.run_detail, name="run_detail"),
]
