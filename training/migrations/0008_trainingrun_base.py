from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('training', '0007_measured_speed'),
    ]

    operations = [
        migrations.AddField(
            model_name='trainingrun',
            name='base',
            field=models.CharField(
                choices=[('ltx-2.3', 'LTX-2.3'), ('ltx-2.5', 'LTX-2.5')], default='ltx-2.3', max_length=20,
                help_text='The base model it trains on (engine.bases): the worker loads this one; its adapters work '
                'with it only. Runs from before bases were chosen trained on LTX-2.3.'),
        ),
    ]
