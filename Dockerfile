# Spoedstroom worker image: small, non-root, one process per container.
#   docker build -t spoedstroom:0.1.0 .
#   docker run --rm -e SPOEDSTROOM_BOOTSTRAP_SERVERS=kafka:9092 \
#     -e SPOEDSTROOM_WEB_TOKEN="$(openssl rand -hex 32)" -p 127.0.0.1:6066:6066 spoedstroom:0.1.0
# The worker binds 0.0.0.0 in the image (so the port can be published) and therefore
# refuses to start without SPOEDSTROOM_WEB_TOKEN (16+ characters): /status and /metrics
# are never open by default. /healthz and /readyz stay open for probes.
# The same image runs the other commands: `spoedstroom dev topics`, `spoedstroom simulate ...`.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
# rocksdict ships manylinux wheels, so no compiler is needed.
COPY pyproject.toml README.md ./
COPY topics ./topics
COPY processors ./processors
COPY streams ./streams
COPY simulator ./simulator
COPY adapters ./adapters
RUN python -m venv /opt/spoedstroom \
 && /opt/spoedstroom/bin/pip install --upgrade pip \
 && /opt/spoedstroom/bin/pip install ".[production]"

FROM python:3.11-slim
LABEL org.opencontainers.image.title="spoedstroom" \
      org.opencontainers.image.description="Streaming backbone of a regional acute-care network (Faust worker)" \
      org.opencontainers.image.licenses="EUPL-1.2"
# SPOEDSTROOM_WEB_HOST=0.0.0.0 makes SPOEDSTROOM_WEB_TOKEN required at run time (see the top).
ENV PATH=/opt/spoedstroom/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SPOEDSTROOM_WEB_HOST=0.0.0.0 \
    SPOEDSTROOM_WEB_PORT=6066 \
    SPOEDSTROOM_REGISTRY=/etc/spoedstroom/regions/haaglanden.yaml \
    SPOEDSTROOM_STATE_DIR=/var/lib/spoedstroom
COPY --from=build /opt/spoedstroom /opt/spoedstroom
COPY deploy/regions /etc/spoedstroom/regions
RUN groupadd --system --gid 10001 spoedstroom \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/spoedstroom --no-create-home spoedstroom \
 && mkdir -p /var/lib/spoedstroom \
 && chown 10001:10001 /var/lib/spoedstroom
WORKDIR /var/lib/spoedstroom
USER 10001:10001
EXPOSE 6066
# Liveness only; readiness (/readyz) is for orchestrators that route traffic.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('SPOEDSTROOM_WEB_PORT', '6066'), timeout=4)"]
ENTRYPOINT ["spoedstroom"]
CMD ["worker"]
