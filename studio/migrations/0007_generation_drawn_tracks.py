from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('studio', '0006_adapter_base'),
    ]

    operations = [
        migrations.AddField(
            model_name='generation',
            name='drawn_tracks',
            field=models.JSONField(
                blank=True, null=True,
                help_text="The motion tracks drawn on the Studio's canvas that made the reference "
                "(prep.extract.drawn_tracks.DrawnTracks), so reusing the settings puts them back on it."),
        ),
    ]
