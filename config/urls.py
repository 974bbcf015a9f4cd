from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from accounts.forms import OperatorSignInForm
from config import views

admin.site.login_form = OperatorSignInForm
admin.site.site_header = "ICLoRA Studio operations"
admin.site.site_title = "ICLoRA Studio operations"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("metrics", views.metrics, name="metrics"),
    path("ops/system-check/", views.system_check, name="system_check"),
    path("ops/", include("operators.urls")),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("wizard/", include("wizard.urls")),
    path("prep/", include("prep.urls")),
    path("", include("studio.urls")),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
