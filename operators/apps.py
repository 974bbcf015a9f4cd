from django.apps import AppConfig


class OperatorsConfig(AppConfig):
    name = "operators"
    verbose_name = "Operations"

    def ready(self) -> None:
        # the admin imports models, which exist only once apps are loaded (AppConfig.ready)
        from django.contrib import admin

        from operators import checks, worker_control  # noqa: F401 (checks registers itself)

        # The admin index gains an "Operations" block linking the console pages.
        admin.site.index_template = "operators/admin_index.html"
        # Workers run django.setup() too, so this is how they learn the console's remote commands.
        worker_control.register_commands()
