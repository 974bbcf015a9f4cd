"""The web process stays light: loading it imports no machine-learning library and no OpenCV.

torch + diffusers + transformers + peft cost about 5 s and 400 MB (the stack notes); they belong in the
workers, imported inside tasks and the trainer. A fresh interpreter is needed to see what loading imports.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.services import ROOT, child_env

HEAVY = ("torch", "diffusers", "transformers", "peft", "accelerate", "optimum", "cv2", "mediapipe")

LOAD_THE_WEB_APP = """
import json, sys
import django
django.setup()
import config.urls
from config.asgi import application
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules} & set(sys.argv[1:]))))
"""


def test_loading_the_urls_and_the_asgi_application_imports_no_machine_learning_library_or_opencv():
    result = subprocess.run(
        [sys.executable, "-c", LOAD_THE_WEB_APP, *HEAVY], cwd=ROOT,
        env=child_env(DJANGO_SETTINGS_MODULE="config.settings"), capture_output=True, text=True, timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    imported = json.loads(result.stdout.strip().splitlines()[-1])
    assert imported == [], (
        f"loading the web app imported {imported}; import them inside the functions that need them "
        "(run `python -X importtime` to see which module pulls them in)"
    )
