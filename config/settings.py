"""ICLoRA Studio settings, read from the environment (see the README's configuration table)."""

from __future__ import annotations

import secrets
from pathlib import Path

import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

from config.env import (
    database_from_url,
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_names,
    env_optional_str,
    env_path,
    env_str,
    redis_url,
)
from config.redis import RedisEndpoint

# Lets model and admin classes be subscripted for type checking (e.g. ModelAdmin[Run]).
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = env_path("ICLORA_DATA_DIR", BASE_DIR / "data")


def _secret_key() -> str:
    """The configured key, or one generated once and kept in the data folder for a single machine."""
    configured = env_optional_str("SECRET_KEY")
    if configured:
        return configured
    if env_bool("HTTPS", False):
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when HTTPS=true (a production deployment): every web replica needs the same one."
        )
    key_file = DATA_DIR / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# Behind HTTPS (a production deployment): secure cookies, HSTS and redirects to https.
HTTPS = env_bool("HTTPS", False)
SECURE_SSL_REDIRECT = HTTPS and env_bool("SECURE_SSL_REDIRECT", True)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 60 * 60 * 24 * 30 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS and env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = HTTPS and env_bool("SECURE_HSTS_PRELOAD", False)
# HSTS for subdomains and the preload list bind a whole domain we know nothing about: operators opt in above.
SILENCED_SYSTEM_CHECKS = ["security.W005", "security.W021"]
BEHIND_PROXY = env_bool("BEHIND_PROXY", HTTPS)
if BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain HTTP
SITE_URL = env_str("SITE_URL", f"http://127.0.0.1:{env_int('PORT', 8000, minimum=1, maximum=65535)}")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "template_partials",
    "jobs",
    "accounts",
    "datasets",
    "wizard",
    "training",
    "studio",
    "prep",
    "operators",
]

MIDDLEWARE = [
    "config.streaming.StreamChunksMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.signup",
                "studio.context_processors.base_model",
            ],
            "builtins": ["template_partials.templatetags.partials"],
        },
    }
]

# --- Database: SQLite in the data folder unless DATABASE_URL says otherwise.
_database = database_from_url("DATABASE_URL", env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'db.sqlite3'}"))
if _database["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory, so worker and server processes started by the tests see the test database.
    _database["TEST"] = {"NAME": str(DATA_DIR / "test-db.sqlite3")}
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
# Who may create an account: anyone (the default), only addresses at these email domains, or nobody (operators
# then add creators in the admin).
SIGNUP_OPEN = env_bool("SIGNUP_OPEN", True)
SIGNUP_EMAIL_DOMAINS = [domain.lower().lstrip("@") for domain in env_list("SIGNUP_EMAIL_DOMAINS", [])]
# The sign-in throttle (accounts/throttle.py): wrong passwords allowed per account and per address in the window.
LOGIN_MAX_FAILURES = env_int("LOGIN_MAX_FAILURES", 10, minimum=1)
LOGIN_MAX_FAILURES_PER_IP = env_int("LOGIN_MAX_FAILURES_PER_IP", 50, minimum=1)
LOGIN_LOCKOUT_MINUTES = env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1)
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Files: static files served by the app itself (no CDN), media on local disk by default.
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env_path("STATIC_ROOT", DATA_DIR / "staticfiles")
WHITENOISE_USE_FINDERS = env_bool("STATIC_FROM_SOURCE", True)
if WHITENOISE_USE_FINDERS:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise looks there too, even when serving from source
MEDIA_URL = "/media/"
MEDIA_ROOT = env_path("MEDIA_ROOT", DATA_DIR / "media")
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024  # larger uploads stream to a temporary file
STORAGES: dict[str, dict[str, object]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# With a bucket, every upload, checkpoint, sample and adapter lives in S3 (or an S3-compatible server):
# GPU workers on other machines then need only the broker, the database and the bucket.
S3_BUCKET = env_optional_str("S3_BUCKET")
if S3_BUCKET:
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": S3_BUCKET,
            "endpoint_url": env_optional_str("S3_ENDPOINT_URL"),
            "region_name": env_optional_str("S3_REGION"),
            "access_key": env_optional_str("S3_ACCESS_KEY_ID"),
            "secret_key": env_optional_str("S3_SECRET_ACCESS_KEY"),
            "addressing_style": env_choice("S3_ADDRESSING_STYLE", "auto", ("auto", "path", "virtual")),
            "location": env_str("S3_PREFIX", ""),
            "file_overwrite": False,
            "default_acl": None,
            "querystring_auth": True,
            "signature_version": "s3v4",
        },
    }
# Browsers fetch clips, samples and adapters from the bucket through signed links that expire, instead of
# through the web server (which still checks who may see each file first).
S3_DIRECT_DOWNLOADS = env_bool("S3_DIRECT_DOWNLOADS", False)
if S3_DIRECT_DOWNLOADS and not S3_BUCKET:
    raise ImproperlyConfigured("S3_DIRECT_DOWNLOADS=true needs S3_BUCKET: files on local disk have no signed links.")
S3_PUBLIC_ENDPOINT_URL = env_optional_str("S3_PUBLIC_ENDPOINT_URL")
S3_LINK_SECONDS = env_int("S3_LINK_SECONDS", 3600, minimum=60, maximum=7 * 24 * 3600)

# --- Upload limits of the wizard (operators raise or lower them per installation).
WIZARD_MAX_FILE_BYTES = env_int("UPLOAD_MAX_FILE_MB", 2048, minimum=1) * 1024 * 1024
WIZARD_MAX_DATASET_BYTES = env_int("UPLOAD_MAX_DATASET_MB", 20 * 1024, minimum=1) * 1024 * 1024
WIZARD_MAX_PAIRS = env_int("UPLOAD_MAX_PAIRS", 1000, minimum=1)
WIZARD_CHUNK_BYTES = env_int("UPLOAD_CHUNK_KB", 8192, minimum=64, maximum=100 * 1024) * 1024

# --- Default quotas per creator (0: no limit); operators change them per creator in the admin.
QUOTA_CONCURRENT_RUNS = env_int("QUOTA_CONCURRENT_RUNS", 2, minimum=0)
QUOTA_GPU_HOURS_PER_MONTH = env_int("QUOTA_GPU_HOURS_PER_MONTH", 0, minimum=0)
QUOTA_STORAGE_GB = env_int("QUOTA_STORAGE_GB", 0, minimum=0)

# --- Redis: external when REDIS_URL is set, else the embedded server `make run` starts.
_redis_url = env_optional_str("REDIS_URL")
# Keys of several installations (or of a test run) can share one Redis without meeting.
REDIS_KEY_PREFIX = env_str("REDIS_KEY_PREFIX", "iclora")
REDIS = RedisEndpoint(
    url=redis_url("REDIS_URL", _redis_url) if _redis_url else None,
    socket_path=None if _redis_url else DATA_DIR / "run" / "redis.sock",
)

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": REDIS.channels_hosts, "prefix": f"{REDIS_KEY_PREFIX}:channels"},
    }
}

# --- Celery: two queues. `gpu` workers take one task at a time and acknowledge it only when done,
# so a run whose worker dies goes back to the queue instead of vanishing.
CELERY_BROKER_URL = REDIS.celery_url
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A task is sent once its transaction has committed (enqueue_on_commit). Celery gives up after about 0.6 s by
# default, and reconnecting stops at the connect timeout (4 s) unless `connect_retries_timeout` (below) says
# otherwise; these span a Redis restart: a send tries once a second for up to BROKER_PUBLISH_RETRY_SECONDS (the
# request waits meanwhile), then gives up with a logged warning, and the job watchdog sends the queued job again.
BROKER_PUBLISH_RETRY_SECONDS = 15
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": BROKER_PUBLISH_RETRY_SECONDS, "interval_start": 0, "interval_step": 1, "interval_max": 1,
}
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Training runs last hours; redelivery of an unacknowledged task is handled by our watchdog.
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 12 * 3600, minimum=60),
    "global_keyprefix": f"{REDIS_KEY_PREFIX}:celery:",
    # Ten priority levels (0 = first); operators raise a run's priority in the console.
    "queue_order_strategy": "priority",
    "priority_steps": list(range(10)),
    "sep": ":",
    "connect_retries_timeout": BROKER_PUBLISH_RETRY_SECONDS,
}
CELERY_TASK_DEFAULT_PRIORITY = 5
CELERY_TASK_DEFAULT_QUEUE = "cpu"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ROUTES = {
    "training.tasks.train_run": {"queue": "gpu"},
    "studio.tasks.generate": {"queue": "gpu"},
    "config.tasks.probe_gpu": {"queue": "gpu"},
    "config.tasks.probe_cpu": {"queue": "cpu"},
    "prep.tasks.extract": {"queue": "cpu"},
}
CELERY_BEAT_SCHEDULE = {
    "drop-stale-uploads": {"task": "datasets.tasks.drop_stale_uploads", "schedule": 3600},
}
WORKER_QUEUES = ("cpu", "gpu")
WORKER_HEARTBEAT_SECONDS = env_int("WORKER_HEARTBEAT_SECONDS", 10, minimum=1)
# A worker on the gpu queue imports the engine (torch, diffusers, transformers: about 5 s of CPU) once, before its
# pool forks, instead of in each pool process at its first run or generation.
WORKER_PRELOAD_ENGINE = env_bool("WORKER_PRELOAD_ENGINE", True)
WORKER_STALE_SECONDS = env_int("WORKER_STALE_SECONDS", 45, minimum=2)
# The job watchdog (`manage.py watchdog`, a process of its own) looks for jobs whose worker went silent this often.
WATCHDOG_SECONDS = env_int("WATCHDOG_SECONDS", 5, minimum=1)
# A job whose worker keeps vanishing is resumed until it has gone this long without one in all.
JOB_RECOVERY_MINUTES = env_int("JOB_RECOVERY_MINUTES", 120, minimum=1)

RUN_WEBHOOK_URL = env_optional_str("RUN_WEBHOOK_URL")  # POSTed a JSON summary when a run ends
# Bearer token Prometheus sends to /metrics (operators signed in need none). Unset: only operators can read it.
METRICS_TOKEN = env_optional_str("METRICS_TOKEN")
if METRICS_TOKEN is not None and len(METRICS_TOKEN) < 16:
    raise ImproperlyConfigured("METRICS_TOKEN is too short to keep the metrics private: use 16 characters or more.")
# Bearer token a monitor sends to /healthz to read what each check found (socket paths, worker host names, errors);
# operators signed in need none. Anyone else gets only ok/down, per check and as the HTTP status.
HEALTHZ_TOKEN = env_optional_str("HEALTHZ_TOKEN")
if HEALTHZ_TOKEN is not None and len(HEALTHZ_TOKEN) < 16:
    raise ImproperlyConfigured("HEALTHZ_TOKEN is too short to keep the health details private: use 16 characters "
                               "or more.")

# --- Model used by training and the Studio.
# demo: the small trained model shipped in models/demo (real pictures on a CPU); tiny: a random one for quick tests.
MODEL_PRESET = env_choice("MODEL_PRESET", "demo", ("tiny", "demo", "ltx-2.3"))
TINY_MODEL_DIR = env_path("TINY_MODEL_DIR", DATA_DIR / "models" / "tiny")
DEMO_MODEL_DIR = env_path("DEMO_MODEL_DIR", BASE_DIR / "models" / "demo")
LTX_MODEL_PATH = env_optional_str("LTX_MODEL_PATH")
LTX_TEXT_ENCODER_PATH = env_optional_str("LTX_TEXT_ENCODER_PATH")
# The distilled checkpoint gives the Studio fast previews (few fixed steps, no guidance) when configured.
LTX_DISTILLED_MODEL_PATH = env_optional_str("LTX_DISTILLED_MODEL_PATH")
# LTX-2.5, the second base model (engine/bases.py): the same kinds of paths as LTX-2.3's (a diffusers folder, or
# Lightricks' single .safetensors with the text-encoder folder), its text encoder Lightricks' fine-tuned Gemma 4.
LTX25_MODEL_PATH = env_optional_str("LTX25_MODEL_PATH")
LTX25_TEXT_ENCODER_PATH = env_optional_str("LTX25_TEXT_ENCODER_PATH")
LTX25_DISTILLED_MODEL_PATH = env_optional_str("LTX25_DISTILLED_MODEL_PATH")
# Lightricks' split LTX-2.5 download (engine.model_paths.ModelPaths): LTX25_MODEL_PATH (and the distilled one) name
# the transformer files, these the files beside them, shared by the dev and distilled transformers.
LTX25_VIDEO_VAE_PATH = env_optional_str("LTX25_VIDEO_VAE_PATH")
LTX25_AUDIO_VAE_PATH = env_optional_str("LTX25_AUDIO_VAE_PATH")
LTX25_TEXT_PROJECTION_PATH = env_optional_str("LTX25_TEXT_PROJECTION_PATH")
for _name, _value in (("LTX25_TEXT_ENCODER_PATH", LTX25_TEXT_ENCODER_PATH),
                      ("LTX25_DISTILLED_MODEL_PATH", LTX25_DISTILLED_MODEL_PATH),
                      ("LTX25_VIDEO_VAE_PATH", LTX25_VIDEO_VAE_PATH), ("LTX25_AUDIO_VAE_PATH", LTX25_AUDIO_VAE_PATH),
                      ("LTX25_TEXT_PROJECTION_PATH", LTX25_TEXT_PROJECTION_PATH)):
    if _value and not LTX25_MODEL_PATH:
        raise ImproperlyConfigured(f"{_name} is set but LTX25_MODEL_PATH is not: LTX-2.5 needs its dev checkpoint "
                                   "(a diffusers folder or Lightricks' .safetensors) before anything else of it.")
# The real base models an operator has set up, in the engine's names (engine.bases.BASES): each one whose dev
# checkpoint is configured.
MODEL_BASES = tuple(name for name, path in (("ltx-2.3", LTX_MODEL_PATH), ("ltx-2.5", LTX25_MODEL_PATH)) if path)
# The bases the tiny preset offers creators, the first one by default: with both, a tiny LTX-2.5 model is built beside
# the tiny LTX-2.3 one (TINY_MODEL_DIR-ltx-2.5), so tests and demos can exercise the choice of base. The demo model
# exists for LTX-2.3 only, so the demo preset always offers that one alone (training.models_config.available_bases).
TINY_MODEL_BASES = env_names("TINY_MODEL_BASES", ("ltx-2.3",), ("ltx-2.3", "ltx-2.5"))

# int8 weights for the Studio's transformer and text encoder (optimum-quanto): ~37 GB instead of ~66, for 48 GB
# cards.
STUDIO_QUANTIZE = env_choice("STUDIO_QUANTIZE", "none", ("none", "int8"))
# The same for training runs (the workers' own environment decides), and the GPU memory of the training workers:
# the wizard refuses settings that would not fit in it.
TRAINING_QUANTIZE = env_choice("TRAINING_QUANTIZE", "none", ("none", "int8"))
TRAINING_GPU_MEMORY_GB = env_int("TRAINING_GPU_MEMORY_GB", 80, minimum=8)

# Automatic dataset preparation (prep/). MediaPipe pins numpy<2 and protobuf<5, so pose extraction runs in
# its own interpreter (made by `make`); depth and captioning models are local folders an operator configures.
POSE_PYTHON = env_path("POSE_PYTHON", BASE_DIR / ".venv-pose" / "bin" / "python")
DEPTH_MODEL_PATH = env_optional_str("DEPTH_MODEL_PATH")
# Motion tracks follow points with OpenCV's optical flow unless an operator names a point-tracking model here: one
# file, saved with torch.export.save or torch.jit.save, called as CoTracker is: tracks, visibility = model(video,
# queries) (prep/extract/track_model.py, docs/preparation.md).
TRACK_MODEL_PATH = env_optional_str("TRACK_MODEL_PATH")
CAPTION_MODEL_PATH = env_optional_str("CAPTION_MODEL_PATH")
# Captioning models want a GPU; a small one runs well enough on the `cpu` queue.
CAPTION_QUEUE = env_choice("CAPTION_QUEUE", "gpu", ("cpu", "gpu"))

# --- Email: printed to the console unless an SMTP server is configured.
EMAIL_HOST = env_optional_str("EMAIL_HOST")
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend"
)
EMAIL_HOST = EMAIL_HOST or "localhost"
EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "ICLoRA Studio <studio@localhost>")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
