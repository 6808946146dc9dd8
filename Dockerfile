# One image for web, workers and migrations; the `neural` extra brings PyTorch and CompressAI.
# postgresql-client: pg_dump and pg_restore for `miscomp backup` (docs/deployment.md).
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm postgresql-client \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /srv/miscomp
COPY pyproject.toml README.md package.json package-lock.json ./
COPY app ./app
COPY workers ./workers
COPY migrations ./migrations
COPY templates ./templates
COPY static ./static
COPY alembic.ini ./
RUN pip install --no-cache-dir -e '.[neural]' \
 && npm ci --no-audit --no-fund \
 && mkdir -p static/vendor && cp node_modules/htmx.org/dist/htmx.min.js static/vendor/
RUN useradd --create-home miscomp && mkdir -p /srv/var && chown miscomp /srv/var
USER miscomp
ENV MISCOMP_VAR_DIR=/srv/var
EXPOSE 8000
CMD ["miscomp", "serve", "--host", "0.0.0.0", "--port", "8000"]
