"""A run's dataset is now datasets.Dataset: the same table, so only Django's state changes."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('datasets', '0001_initial'),
        ('training', '0004_job_worker_pid'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='trainingrun',
                    name='dataset',
                    field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name='runs', to='datasets.dataset'),
                ),
            ],
            database_operations=[],
        ),
    ]
