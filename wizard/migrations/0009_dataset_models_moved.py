"""The dataset models moved to the datasets app with their tables (see datasets 0001): only Django's state forgets them here."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('datasets', '0001_initial'),
        ('training', '0005_dataset_moved'),
        ('wizard', '0008_job_worker_pid'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name='pairjob',
                    name='pair',
                ),
                migrations.RemoveField(
                    model_name='dataset',
                    name='owner',
                ),
                migrations.RemoveField(
                    model_name='partialupload',
                    name='dataset',
                ),
                migrations.RemoveField(
                    model_name='datasetfile',
                    name='dataset',
                ),
                migrations.AlterField(
                    model_name='trainingdraft',
                    name='dataset',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='drafts', to='datasets.dataset'),
                ),
                migrations.RemoveField(
                    model_name='pairjob',
                    name='dataset',
                ),
                migrations.RemoveField(
                    model_name='uploadpiece',
                    name='upload',
                ),
                migrations.DeleteModel(
                    name='ClipPair',
                ),
                migrations.DeleteModel(
                    name='DatasetFile',
                ),
                migrations.DeleteModel(
                    name='Dataset',
                ),
                migrations.DeleteModel(
                    name='PairJob',
                ),
                migrations.DeleteModel(
                    name='PartialUpload',
                ),
                migrations.DeleteModel(
                    name='UploadPiece',
                ),
            ],
            database_operations=[],
        ),
    ]
