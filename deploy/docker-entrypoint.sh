#!/bin/sh
# The container's entrypoint (deploy/Dockerfile), also run as-is by tests/e2e/test_rolling_restart.py.
#
#   serve [ARGS]    authserver serve --host $AUTHSERVER_HOST (default 0.0.0.0); the port is AUTHSERVER_PORT
#                   (the image sets 8000). Replicas never migrate: the migrate job owns the schema, so
#                   AUTHSERVER_AUTO_MIGRATE defaults to off here, and a replica refuses a schema that is behind.
#   migrate [ARGS]  authserver db upgrade --json [ARGS], then `authserver init --json`: the schema, then the first
#                   signing key if there is none, so replicas starting together never race to create one.
#   anything else   run as given (`authserver keys rotate --json`, `sh`, ...).
#
# Every setting comes from the environment (docs/deployment.md, "Configuration reference"); secrets through their
# *_FILE twins (DATABASE_URL_FILE, REDIS_URL_FILE, AUTHSERVER_SECRET_KEY_FILE), which config.py reads.
# `exec` replaces this shell, so SIGTERM from `docker stop` or systemd reaches the server, which drains in-flight
# requests and flushes its activity counts before it exits.
set -eu

case "${1:-serve}" in
    serve)
        [ "$#" -gt 0 ] && shift
        export AUTHSERVER_AUTO_MIGRATE="${AUTHSERVER_AUTO_MIGRATE:-off}"
        exec authserver serve --host "${AUTHSERVER_HOST:-0.0.0.0}" "$@"
        ;;
    migrate)
        shift
        authserver db upgrade --json "$@"
        # With AUTHSERVER_AUTO_MIGRATE=off init only checks or creates the signing keys.
        AUTHSERVER_AUTO_MIGRATE=off exec authserver init --json
        ;;
    *)
        exec "$@"
        ;;
esac
