# syntax=docker/dockerfile:1
#
# Responder's container image. Three stages:
#   builder  compiles the release binary (git2 links OpenSSL; SQLite and libgit2 are built in);
#   fly      the image Fly.io runs (fly.toml's build-target): starts as root only to hand
#            the freshly mounted volume to the `responder` user, then drops to it;
#   runtime  the default target: the same image, running as `responder` from the start
#            (Docker and Kubernetes volumes take the image's ownership of /data).
# Templates, issue forms, the App manifest and migrations are compiled into the binary: the runtime
# image holds nothing but the binary and what it links.

ARG RUST_VERSION=1.94
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS builder
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
COPY templates ./templates
COPY .github/ISSUE_TEMPLATE ./.github/ISSUE_TEMPLATE
# The App manifest: the setup page builds the manifest it posts to GitHub from it.
COPY app.yml ./
# Cargo.toml names the benchmarks; their sources must exist for the manifest to load.
COPY bench ./bench
# The caches keep dependencies compiled between builds; the binary is copied out of
# the cached target directory because cache mounts do not persist into the layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/build/target \
    cargo build --release --locked --bin responder \
 && install -m 0755 target/release/responder /usr/local/bin/responder

FROM debian:${DEBIAN_RELEASE}-slim AS base
# ca-certificates: TLS to GitHub. libssl3: git2's HTTPS transport links OpenSSL.
# curl: the HEALTHCHECK. git: `git upload-pack` serves the mirror to sandboxes
# (/v1/git); fetches from GitHub use the libgit2 linked into the binary.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 curl git \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 responder \
 && useradd --system --uid 10001 --gid responder --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin responder \
 && mkdir -p /data \
 && chown responder:responder /data \
 && chmod 0700 /data
COPY --from=builder /usr/local/bin/responder /usr/local/bin/responder
ENV RESPONDER_LISTEN=0.0.0.0:8080 \
    RESPONDER_DATA_DIR=/data \
    RESPONDER_LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 8080
# /healthz answers 200 while the store works, with or without App settings.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD curl -fsS -o /dev/null http://127.0.0.1:8080/healthz || exit 1
# The service drains on SIGTERM: no new requests, work in flight finishes (20 s).
STOPSIGNAL SIGTERM
CMD ["serve"]

FROM base AS fly
COPY --chmod=0755 deploy/fly-entrypoint.sh /usr/local/bin/fly-entrypoint
# Fly mounts volumes owned by root and has no setting to change that; the entrypoint
# gives the data directory to `responder` and runs the service as that user.
USER root
ENTRYPOINT ["/usr/local/bin/fly-entrypoint"]

FROM base AS runtime
USER responder:responder
WORKDIR /data
ENTRYPOINT ["/usr/local/bin/responder"]
