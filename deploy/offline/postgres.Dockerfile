# Stands in for postgres:16 offline: Debian bookworm's PostgreSQL 15, started like the official image
# (POSTGRES_DB, POSTGRES_USER, POSTGRES_PASSWORD; data in /var/lib/postgresql/data; pg_isready on the PATH).
ARG DEBIAN_IMAGE=iclora-offline/debian:bookworm
FROM ${DEBIAN_IMAGE}
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-15 \
    && rm -rf /var/lib/apt/lists/* && mkdir -p /var/lib/postgresql/data /run/postgresql \
    && chown -R postgres /var/lib/postgresql /run/postgresql
COPY postgres-entrypoint.sh /usr/local/bin/
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
USER postgres
EXPOSE 5432
ENTRYPOINT ["postgres-entrypoint.sh"]
