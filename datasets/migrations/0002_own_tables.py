"""The moved models' tables take the datasets app's names, and their content types follow them, so admin history
and permissions recorded under the wizard keep pointing at the same rows."""

from typing import Any

from django.db import migrations

MOVED = ["dataset", "datasetfile", "clippair", "pairjob", "partialupload", "uploadpiece"]


def _relabel(apps: Any, old: str, new: str) -> None:
    content_type = apps.get_model("contenttypes", "ContentType")
    taken = set(content_type.objects.filter(app_label=new, model__in=MOVED).values_list("model", flat=True))
    content_type.objects.filter(app_label=old, model__in=[m for m in MOVED if m not in taken]).update(app_label=new)


def forwards(apps: Any, schema_editor: Any) -> None:
    _relabel(apps, "wizard", "datasets")


def backwards(apps: Any, schema_editor: Any) -> None:
    _relabel(apps, "datasets", "wizard")


class Migration(migrations.Migration):

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("datasets", "0001_initial"),
        ("wizard", "0009_dataset_models_moved"),
    ]

    operations = [
        *(migrations.AlterModelTable(name=name, table=None) for name in
          ["Dataset", "DatasetFile", "ClipPair", "PairJob", "PartialUpload", "UploadPiece"]),
        migrations.RunPython(forwards, backwards),
    ]
