#!/bin/sh
# First start of an empty data volume only (the postgres image runs /docker-entrypoint-initdb.d
# once, as the superuser, after its own 10_postgis.sh): the application's role, its database,
# and the two extensions the migrations need. PostGIS may only be created by a superuser, so
# it is done here and the application never connects as one (`dasan db create` would need to).
# The role owns its database, so `dasan db upgrade` can create and alter every table in it.
set -eu
: "${DEPLOY_DB_PASSWORD:?the application role needs a password (DEPLOY_DB_PASSWORD)}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v password="$DEPLOY_DB_PASSWORD" <<'SQL'
CREATE ROLE dasan LOGIN PASSWORD :'password';
CREATE DATABASE dasan OWNER dasan ENCODING 'UTF8' TEMPLATE template0;
SQL

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname dasan <<'SQL'
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
SQL
