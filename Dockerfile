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
RUN groupadd --system --gid 10001 pagewise && useradd --system --uid 10001 --gid pagewise --home /app pagewise \
 && mkdir -p /data && chown pagewise:pagewise /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=pagewise:pagewise alembic.ini ./
COPY --chown=pagewise:pagewise app ./app
COPY --chown=pagewise:pagewise migrations ./migrations
# `python -m app eval --dataset DIR` scores retrieval on your own golden set inside the image too.
COPY --chown=pagewise:pagewise evals ./evals
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["python", "-m", "app", "health-check"]
# `serve` migrates, creates the first admin key on an empty database (printed once, saved to
# /data/api-key) and serves with WORKERS uvicorn worker processes (a dead worker is restarted).
CMD ["python", "-m", "app", "serve"]
