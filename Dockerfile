# The one image of the deployment (docker-compose.yml): `dasan serve` (the API), `dasan worker`,
# the one-shot `dasan db upgrade` and the optional demo seed. The same code and pinned
# dependencies `make run` uses (requirements.lock); docs/deploy.md says how it is run.

# Front-end libraries from the npm registry (package-lock.json), served by the app itself
# under /static/vendor/ (no CDN). Install scripts are not run, as in `make web`.
FROM node:20-slim AS web
WORKDIR /web
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# The runtime dependencies first, pinned by the lock (a layer rebuilt only when they change);
# the lock also pins the development tools, which are not installed here.
COPY pyproject.toml requirements.lock ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/runtime.txt \
    && pip install -c requirements.lock -r /tmp/runtime.txt \
    && rm /tmp/runtime.txt

COPY --from=web /web/node_modules ./node_modules
COPY README.md ./
COPY dispatch_server ./dispatch_server
COPY geo ./geo
COPY sla ./sla
COPY notifications ./notifications
COPY migrations ./migrations
# Editable on purpose: the server finds node_modules/, migrations/, pyproject.toml (Alembic's
# settings) and the message templates beside its code (dispatch_server/config.py PROJECT_ROOT).
RUN pip install --no-deps -e . && dasan --help > /dev/null

# An unprivileged user; the photo folder and the file SMS sink are volumes in the compose file
# (a named volume starts with this folder's owner).
RUN useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin dasan \
    && mkdir -p /var/lib/dasan/media /var/lib/dasan/sms /shared \
    && chown -R dasan:dasan /var/lib/dasan
USER dasan

ENV DASAN_HOST=0.0.0.0 \
    DASAN_PORT=8000 \
    DASAN_MEDIA_DIR=/var/lib/dasan/media \
    DASAN_SMS_FILE=/var/lib/dasan/sms/sms.jsonl \
    DASAN_SHARED_DIR=/shared
EXPOSE 8000
# The health check is the compose file's (GET /healthz on the API only): the worker and the
# one-shot commands run this image too and serve no HTTP.
CMD ["dasan", "serve"]
