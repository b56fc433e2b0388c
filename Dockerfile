# syntax=docker/dockerfile:1
# One image for all four mlmon services; the command names the service:
#   docker build -t mlmon:latest .
#   docker run --rm mlmon:latest --help
#   docker run --rm -e MLMON_BROKER_URL=amqp://guest:guest@HOST:5672/ mlmon:latest features
# compose.yaml runs the whole pipeline with RabbitMQ.

# ---- builder: resolve nothing, install exactly what uv.lock says ------------------------------
FROM python:3.11-slim AS builder

COPY --from=ghcr.io/astral-sh/uv:0.13 /uv /uvx /bin/

# Bytecode compiled once here (the runtime venv is read-only to the service user); copy, not
# hardlink, out of the cache mount; use the image's own Python 3.11, never download one.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=0 \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/app/.venv

WORKDIR /app

# Dependencies first, without the project: this layer is rebuilt only when the lock changes.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-install-project

# Then mlmon itself, as a regular (non-editable) install so the venv stands alone without src/.
COPY README.md ./
COPY src ./src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable

# ---- runtime: the same base image (the venv's python links to /usr/local/bin/python3.11) -------
FROM python:3.11-slim AS runtime

LABEL org.opencontainers.image.title="mlmon" \
      org.opencontainers.image.description="Real-time ML model monitoring over RabbitMQ" \
      org.opencontainers.image.licenses="MIT"

# A fixed, numeric non-root user (uid/gid 1000, the usual first desktop user, so a ./logs bind
# mount made by you is writable); compose.yaml can override it with MLMON_UID/MLMON_GID.
RUN groupadd --gid 1000 mlmon \
    && useradd --uid 1000 --gid 1000 --no-create-home --home-dir /app \
       --shell /usr/sbin/nologin mlmon

WORKDIR /app

# The venv stays root-owned: the service can read and run it, not change it.
COPY --from=builder /app/.venv /app/.venv
# Writable logs directory for runs without a bind mount (a named volume inherits this owner).
RUN mkdir -p /app/logs && chown 1000:1000 /app/logs

ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MPLBACKEND=Agg \
    MPLCONFIGDIR=/tmp/matplotlib \
    MLMON_LOGS_DIR=/app/logs

USER 1000:1000

# mlmon installs SIGTERM handlers, so as PID 1 it still stops gracefully on `docker stop`.
ENTRYPOINT ["mlmon"]
CMD ["--help"]
