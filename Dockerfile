# The API image: the same code and pinned dependencies `make run` uses.
# Front-end libraries from the npm registry (package-lock.json), served by the app itself.
FROM node:20-slim AS web
WORKDIR /web
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund

FROM python:3.11-slim
WORKDIR /app
COPY --from=web /web/node_modules ./node_modules
COPY pyproject.toml requirements.lock README.md ./
COPY dispatch_server ./dispatch_server
COPY geo ./geo
COPY sla ./sla
COPY notifications ./notifications
COPY field_app ./field_app
COPY migrations ./migrations
RUN pip install --no-cache-dir -c requirements.lock -e .
ENV DASAN_HOST=0.0.0.0 DASAN_SHARED_DIR=/shared
EXPOSE 8000
CMD ["dasan", "serve"]
