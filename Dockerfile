# syntax=docker/dockerfile:1
# Multi-stage image: build a venv from the hashed locks, then copy it into a slim runtime as non-root.

FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements.txt requirements-nodeps.txt ./
# torch is locked as the CPU build (2.13.0+cpu); its wheel comes from PyTorch's CPU index.
RUN pip install "pip==26.3" \
 && pip install --require-hashes --extra-index-url https://download.pytorch.org/whl/cpu -r requirements.txt \
 && pip install --no-deps --require-hashes -r requirements-nodeps.txt

FROM python:3.11-slim-bookworm AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    ENVIRONMENT=production \
    HOST=0.0.0.0 \
    PORT=8000 \
    WORKERS=2 \
    DATA_DIR=/data
RUN groupadd --system pagewise && useradd --system --gid pagewise --home /app pagewise \
 && mkdir -p /data && chown pagewise:pagewise /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=pagewise:pagewise alembic.ini ./
COPY --chown=pagewise:pagewise app ./app
COPY --chown=pagewise:pagewise migrations ./migrations
# `python -m app eval --dataset DIR` scores retrieval on your own golden set inside the image too.
COPY --chown=pagewise:pagewise evals ./evals
USER pagewise
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\", \"8000\")}/health', timeout=4)"
# gunicorn supervises uvicorn workers; migrations run before deploy (railway.json) or via `python -m app migrate`.
CMD ["sh", "-c", "exec gunicorn 'app.main:create_app()' --worker-class uvicorn.workers.UvicornWorker --workers ${WORKERS} --bind ${HOST}:${PORT} --graceful-timeout 20 --timeout 120 --access-logfile - --log-level warning"]
