# syntax=docker/dockerfile:1
# The project's one image, for every service in docker-compose.yml: the Dagster code location,
# webserver and daemon, the migration step, and the query API serving the built dashboard.
# Nothing in it is secret: every setting comes from the environment at run time.

# --- The dashboard: dependencies exactly as locked, then Vite's production build (web/dist).
FROM node:22.23.2-bookworm-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

# --- Python: the locked dependencies first (a layer that survives code changes), then the
# project itself as a wheel, not editable, so its SQL comes from inside the package.
FROM python:3.11.15-slim-trixie AS build
ENV UV_PYTHON_DOWNLOADS=never UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PROJECT_ENVIRONMENT=/opt/venv \
    PYTHONDONTWRITEBYTECODE=1
# The uv the Makefile pins.
RUN pip install --no-cache-dir "uv==0.13.9"
WORKDIR /src
COPY pyproject.toml uv.lock README.md ./
RUN --mount=type=cache,target=/root/.cache/uv uv sync --frozen --no-dev --no-install-project
COPY hr_assets ./hr_assets
COPY hr_api ./hr_api
COPY sql ./sql
RUN --mount=type=cache,target=/root/.cache/uv uv sync --frozen --no-dev --no-editable

# --- Runtime: the same Python, the virtual environment, the dashboard, an unprivileged user.
FROM python:3.11.15-slim-trixie
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PATH=/opt/venv/bin:$PATH \
    DAGSTER_HOME=/opt/dagster HR_HOME=/var/lib/hr HR_API_WEB_DIR=/opt/hr/web
# A fixed numeric id, so Kubernetes' runAsNonRoot can verify it and volumes can be prepared for it.
RUN groupadd --system --gid 10001 hr \
    && useradd --system --no-log-init --uid 10001 --gid hr --home-dir /var/lib/hr --shell /usr/sbin/nologin hr \
    && mkdir -p /opt/dagster/storage /var/lib/hr \
    && chown hr:hr /opt/dagster /opt/dagster/storage /var/lib/hr
COPY --from=build /opt/venv /opt/venv
COPY --from=web /web/dist /opt/hr/web
# The instance configuration, and the workspace that points the webserver and daemon at the
# code location's gRPC server (service dagster-code).
COPY dagster.yaml docker/dagster/workspace.yaml /opt/dagster/
USER 10001:10001
WORKDIR /var/lib/hr
# 3000 Dagster UI, 4000 the code location's gRPC server, 8000 the API and dashboard.
EXPOSE 3000 4000 8000
CMD ["hr", "--help"]
