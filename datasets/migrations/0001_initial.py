"""The dataset models, moved here from the wizard app with their tables and rows.

Only Django's idea of the models moves in this migration: the tables are still wizard's (db_table), so nothing is
copied; 0002 then renames the tables. The wizard's 0009 forgets the models on its side.
"""

import datasets.models
import django.db.models.deletion
import uuid
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('prep', '0003_job_worker_pid'),
        ('wizard', '0008_job_worker_pid'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Dataset',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=200)),
                        ('recipe', models.CharField(help_text='Recipe slug, e.g. depth, canny, restoration.', max_length=40)),
                        ('trigger_phrase', models.CharField(blank=True, max_length=100)),
                        ('derive_settings', models.JSONField(blank=True, default=dict, help_text='Settings per extraction method for references made on the server.')),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('owner', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='datasets', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'wizard_dataset',
                        'ordering': ['-updated_at'],
                    },
                ),
                migrations.CreateModel(
                    name='DatasetFile',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(help_text='Relative path as uploaded, e.g. targets/clip.mp4.', max_length=500)),
                        ('file', models.FileField(max_length=500, upload_to=datasets.models._dataset_file_upload_to)),
                        ('kind', models.CharField(choices=[('video', 'Video'), ('image', 'Image'), ('caption', 'Caption'), ('manifest', 'Manifest')], max_length=10)),
                        ('size', models.BigIntegerField(default=0)),
                        ('sha256', models.CharField(db_index=True, max_length=64)),
                        ('poster', models.FileField(blank=True, help_text='A still from the clip for previews (made when the clip is checked).', max_length=500, upload_to=datasets.models._dataset_file_upload_to)),
                        ('preview', models.FileField(blank=True, help_text='A small H.264 copy in standard colours for clips a browser may not play (HEVC, ProRes, HDR…), made when the clip is checked. Training always uses the original.', max_length=500, upload_to=datasets.models._dataset_file_upload_to)),
                        ('uploaded_at', models.DateTimeField(auto_now_add=True)),
                        ('dataset', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='files', to='datasets.dataset')),
                    ],
                    options={
                        'db_table': 'wizard_datasetfile',
                        'ordering': ['dataset', 'name'],
                    },
                ),
                migrations.CreateModel(
                    name='ClipPair',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(help_text="The clip's base name, used for pairing.", max_length=255)),
                        ('position', models.PositiveIntegerField(default=0)),
                        ('target_file', models.FileField(blank=True, max_length=500, upload_to=datasets.models._clip_upload_to)),
                        ('reference_file', models.FileField(blank=True, max_length=500, upload_to=datasets.models._clip_upload_to)),
                        ('reference_is_derived', models.BooleanField(default=False, help_text='The reference was made on the server (depth, edges, pose).')),
                        ('derive_method', models.CharField(blank=True, help_text='Extraction method of a derived reference.', max_length=10)),
                        ('caption', models.TextField(blank=True)),
                        ('caption_typed', models.BooleanField(default=False, help_text='Typed in the page: sidecar files do not replace it.')),
                        ('caption_auto', models.BooleanField(default=False, help_text='Written by the captioner and not edited since.')),
                        ('target_meta', models.JSONField(blank=True, default=dict, help_text='What probing the target found.')),
                        ('reference_meta', models.JSONField(blank=True, default=dict, help_text='What probing the reference found.')),
                        ('status', models.CharField(choices=[('pending', 'Waiting to be checked'), ('checking', 'Being checked'), ('ok', 'Ready'), ('warning', 'Ready, with notes'), ('error', 'Needs attention')], default='pending', max_length=10)),
                        ('messages', models.JSONField(blank=True, default=list, help_text='Validation findings: [{level, code, text}] in plain language.')),
                        ('checked_at', models.DateTimeField(blank=True, null=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('caption_extraction', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='caption_pairs', to='prep.extraction')),
                        ('extraction', models.ForeignKey(blank=True, help_text='The extraction that makes (or made) the derived reference.', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='reference_pairs', to='prep.extraction')),
                        ('dataset', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='pairs', to='datasets.dataset')),
                        ('reference_source', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='datasets.datasetfile')),
                        ('target_source', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='datasets.datasetfile')),
                    ],
                    options={
                        'db_table': 'wizard_clippair',
                        'ordering': ['dataset', 'position', 'name'],
                    },
                ),
                migrations.CreateModel(
                    name='PairJob',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('worker', models.CharField(blank=True, help_text='The Celery worker holding the job.', max_length=255)),
                        ('task_id', models.CharField(blank=True, help_text='The broker message the holder is running: the same message delivered again means its first worker process died.', max_length=64)),
                        ('worker_pid', models.PositiveIntegerField(blank=True, help_text="The holder's process on its worker's machine: alive means it still holds.", null=True)),
                        ('lease', models.PositiveIntegerField(default=0, help_text='Raised whenever the job changes hands; a worker holding an older lease has lost it.')),
                        ('heartbeat_at', models.DateTimeField(blank=True, help_text="The holder's last sign of life.", null=True)),
                        ('claimed_at', models.DateTimeField(blank=True, help_text='When the current holder took the job.', null=True)),
                        ('progress_at', models.DateTimeField(blank=True, help_text='When the job last moved forward.', null=True)),
                        ('attempts', models.PositiveSmallIntegerField(default=0, help_text='Starts by a worker, not counting the resumptions after a lost worker.')),
                        ('losses', models.PositiveSmallIntegerField(default=0, help_text='Times the worker holding the job vanished.')),
                        ('stalled_losses', models.PositiveSmallIntegerField(default=0, help_text='Losses in a row with no progress in between (a job that stops its machine itself).')),
                        ('lost_seconds', models.FloatField(default=0.0, help_text='Time spent without a worker after losses, against JOB_RECOVERY_MINUTES.')),
                        ('cancel_requested', models.BooleanField(default=False, help_text='The holder stops at its next step.')),
                        ('state_reason', models.CharField(blank=True, help_text='The last change, in plain words.', max_length=500)),
                        ('error_kind', models.CharField(blank=True, max_length=40)),
                        ('error_message', models.TextField(blank=True, help_text='Why it failed, in plain words.')),
                        ('error_ref', models.CharField(blank=True, help_text='Where an operator finds the details (the worker log line).', max_length=120)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('queued_at', models.DateTimeField(blank=True, null=True)),
                        ('sent_at', models.DateTimeField(blank=True, help_text='When the watchdog last sent the task again (a lost message is resent).', null=True)),
                        ('started_at', models.DateTimeField(blank=True, null=True)),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                        ('pair_name', models.CharField(max_length=255)),
                        ('action', models.CharField(choices=[('check', 'Check the clips'), ('split', 'Cut into shots')], max_length=10)),
                        ('state', models.CharField(choices=[('queued', 'Waiting for a worker'), ('running', 'Working'), ('done', 'Done'), ('failed', 'Failed'), ('cancelled', 'Cancelled')], db_index=True, default='queued', max_length=12)),
                        ('dataset', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='pair_jobs', to='datasets.dataset')),
                        ('pair', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='jobs', to='datasets.clippair')),
                    ],
                    options={
                        'db_table': 'wizard_pairjob',
                        'ordering': ['-created_at'],
                    },
                ),
                migrations.CreateModel(
                    name='PartialUpload',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('key', models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                        ('name', models.CharField(help_text='Relative path the file will have, e.g. targets/clip.mp4.', max_length=500)),
                        ('size', models.BigIntegerField(help_text='Bytes the whole file has.')),
                        ('fingerprint', models.CharField(blank=True, help_text="The browser's last-modified time: a changed file with the same name and size starts over.", max_length=100)),
                        ('received', models.BigIntegerField(default=0, help_text='Bytes stored so far, from the start of the file.')),
                        ('outcome', models.JSONField(blank=True, help_text="Once the whole file was stored or refused: what the last piece's answer said, kept for a browser that lost that answer (putting a large file together can outlast a proxy's timeout).", null=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('dataset', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='partial_uploads', to='datasets.dataset')),
                    ],
                    options={
                        'db_table': 'wizard_partialupload',
                        'ordering': ['dataset', 'name'],
                    },
                ),
                migrations.CreateModel(
                    name='UploadPiece',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('offset', models.BigIntegerField()),
                        ('length', models.BigIntegerField()),
                        ('file', models.FileField(max_length=500, upload_to=datasets.models._piece_upload_to)),
                        ('upload', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='pieces', to='datasets.partialupload')),
                    ],
                    options={
                        'db_table': 'wizard_uploadpiece',
                        'ordering': ['upload', 'offset'],
                    },
                ),
                migrations.AddConstraint(
                    model_name='datasetfile',
                    constraint=models.UniqueConstraint(fields=('dataset', 'name'), name='unique_file_name_per_dataset'),
                ),
                migrations.AddConstraint(
                    model_name='clippair',
                    constraint=models.UniqueConstraint(fields=('dataset', 'name'), name='unique_pair_name_per_dataset'),
                ),
                migrations.AddConstraint(
                    model_name='partialupload',
                    constraint=models.UniqueConstraint(fields=('dataset', 'name', 'size', 'fingerprint'), name='one_partial_upload_per_file'),
                ),
                migrations.AddConstraint(
                    model_name='uploadpiece',
                    constraint=models.UniqueConstraint(fields=('upload', 'offset'), name='one_piece_per_offset'),
                ),
            ],
            database_operations=[],
        ),
    ]
