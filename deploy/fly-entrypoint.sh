#!/bin/sh
# Fly.io mounts a volume owned by root over /data. Give the data directory to the
# `responder` user (only its top level, and only when needed: files inside were
# written by that user), then run Responder as that user. Nothing else runs as root.
set -eu
dir="${RESPONDER_DATA_DIR:-/data}"
mkdir -p "$dir"
if [ "$(stat -c %u "$dir")" != "10001" ]; then
    chown responder:responder "$dir"
    chmod 0700 "$dir"
fi
cd "$dir"
exec setpriv --reuid=responder --regid=responder --init-groups --inh-caps=-all \
    /usr/local/bin/responder "$@"
