# One image for the Dagster webserver and daemon (and later the API).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 UV_PYTHON_DOWNLOADS=never UV_COMPILE_BYTECODE=1 UV_PROJECT_ENVIRONMENT=/opt/venv \
    PATH=/opt/venv/bin:$PATH DAGSTER_HOME=/opt/dagster
RUN pip install --no-cache-dir "uv==0.13.9"
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY hr_assets ./hr_assets
COPY hr_api ./hr_api
COPY sql ./sql
COPY workspace.yaml dagster.yaml ./
RUN uv sync --frozen --no-dev && python -m compileall -q hr_assets hr_api && mkdir -p $DAGSTER_HOME && cp dagster.yaml $DAGSTER_HOME/dagster.yaml \
    && useradd --system --home /app hr && chown -R hr $DAGSTER_HOME
USER hr
