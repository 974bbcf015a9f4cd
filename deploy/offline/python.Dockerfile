# Stands in for python:3.11-slim-bookworm on a machine that cannot pull from a container registry:
# Debian bookworm's own Python 3.11, with `python` and `pip` on the PATH like the official image.
ARG DEBIAN_IMAGE=iclora-offline/debian:bookworm
FROM ${DEBIAN_IMAGE}
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv python3-pip \
    && rm -rf /var/lib/apt/lists/* /usr/lib/python3.11/EXTERNALLY-MANAGED \
    && ln -s /usr/bin/python3 /usr/local/bin/python && ln -s /usr/bin/pip3 /usr/local/bin/pip
# The host's extra certificate authorities (a TLS-inspecting proxy's, say), for every pip in the image,
# including the ones inside virtual environments, which otherwise trust only their own bundle.
COPY extra-ca/ /usr/local/share/ca-certificates/
RUN update-ca-certificates
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
CMD ["python3"]
