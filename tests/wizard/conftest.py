from tests.datasets.conftest import clips, own_media_root  # noqa: F401  (the wizard's tests upload the same clips)
