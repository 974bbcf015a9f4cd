# Stands in for redis:7 offline: Debian bookworm's Redis 7.0, data in /data. Like the official image it
# turns protected mode off, so other containers can connect to the command compose gives it.
ARG DEBIAN_IMAGE=iclora-offline/debian:bookworm
FROM ${DEBIAN_IMAGE}
RUN apt-get update && apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/* && mkdir /data && chown redis /data
WORKDIR /data
USER redis
EXPOSE 6379
ENTRYPOINT ["sh", "-c", "exec \"$@\" --protected-mode no", "--"]
CMD ["redis-server"]
