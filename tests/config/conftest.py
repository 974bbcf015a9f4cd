from tests.s3 import s3_endpoint, s3_storage  # noqa: F401  (fixtures)
