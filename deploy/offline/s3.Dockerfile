# Stands in for MinIO offline: moto's S3 server (the same one the test suite uses), on port 9000.
# It keeps objects in memory, so it is for checking a deployment, never for keeping data.
ARG PYTHON_IMAGE=iclora-offline/python:3.11
FROM ${PYTHON_IMAGE}
RUN pip install --no-cache-dir "moto[server]>=5,<6" boto3
EXPOSE 9000
CMD ["moto_server", "-H", "0.0.0.0", "-p", "9000"]
