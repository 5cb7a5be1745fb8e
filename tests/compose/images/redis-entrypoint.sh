#!/bin/sh
# As the official image's entrypoint: redis-server without a config file listens on every
# interface with protected mode off.
if [ "${1:-}" = redis-server ]; then
    shift
    exec redis-server "$@" --protected-mode no
fi
exec "$@"
