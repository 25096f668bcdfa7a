# The product in one image: UI and API on port 8000, the committed default model inside.
#   docker build -t prediction-dashboard .
#   docker run -p 8000:8000 prediction-dashboard
# Settings are environment variables (README, "Settings" and "Docker"); nothing secret is baked in.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MODEL_URI=/app/models \
    KPI_DIR=/app/kpis \
    MODEL_CACHE_DIR=/app/.cache/models

WORKDIR /app

# Dependencies first, in their own layer: a code change does not reinstall them.
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .

# A numeric non-root user that owns only what it writes: the runtime store (prediction
# log, retraining jobs), the S3 download cache, and the model registry folder (retraining
# and promotion in the container write there).
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent app \
    && mkdir -p /app/kpis /app/.cache/models \
    && chown -R 10001:10001 /app/kpis /app/.cache /app/models
USER 10001:10001

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=4)"]
CMD ["uvicorn", "app:app", "--http", "lib.server.http_server:GuardedHttpToolsProtocol", "--no-proxy-headers", "--host", "0.0.0.0", "--port", "8000"]
