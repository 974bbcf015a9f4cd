from typing import Any

from django.db import migrations, models


def record_bases(apps: Any, schema_editor: Any) -> None:
    """Adapters stored before bases were recorded: the base their file names (engine.export writes it), else LTX-2.3,
    the only base this app trained on or checked uploads against until then."""
    Adapter = apps.get_model('studio', 'Adapter')
    for adapter in Adapter.objects.all().only('pk', 'metadata'):
        recorded = (adapter.metadata or {}).get('base')
        adapter.base = recorded if recorded in ('ltx-2.3', 'ltx-2.5') else 'ltx-2.3'
        adapter.save(update_fields=['base'])


class Migration(migrations.Migration):

    dependencies = [
        ('studio', '0005_job_worker_pid'),
        ('training', '0008_trainingrun_base'),
    ]

    operations = [
        migrations.AddField(
            model_name='adapter',
            name='base',
            field=models.CharField(
                choices=[('ltx-2.3', 'LTX-2.3'), ('ltx-2.5', 'LTX-2.5')], default='ltx-2.3', max_length=20,
                help_text="The base model it was trained on (engine.bases): the Studio tries it on this one only. "
                "From the file's metadata; a file that does not say is taken as made for the Studio's default base."),
        ),
        migrations.AlterField(
            model_name='adapter',
            name='base_model',
            field=models.CharField(blank=True, help_text='The model name the file records.', max_length=100),
        ),
        migrations.RunPython(record_bases, migrations.RunPython.noop),
    ]
