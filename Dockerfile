# syntax=docker/dockerfile:1
#
# autoheal-tui as a container: `serve` (the engine and its HTTP API) as a non-root user.
#   docker build -t autoheal .
#   docker run ... autoheal                 # docs/deploy.md has the whole command
#
# The runtime is debian:bookworm-slim rather than distroless: the shipped playbooks run
# `shell: true` scripts (/bin/sh), the Kubernetes manifests render the healer's config with
# sed in an init container, and the HEALTHCHECK uses curl.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# The caches keep the registry and the compiled dependencies between builds; the binary is
# copied out of the cache mount so the next stage can take it.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin autoheal-tui \
    && install -m 0755 target/release/autoheal-tui /usr/local/bin/autoheal-tui

# kubectl for the kubernetes-rollout-restart playbook. In a pod it finds the service
# account's token by itself; the checksum comes from the same release as the binary.
FROM debian:bookworm-slim AS kubectl
ARG KUBECTL_VERSION=v1.32.4
ARG TARGETARCH
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && curl -fsSLo /kubectl "https://dl.k8s.io/release/${KUBECTL_VERSION}/bin/linux/${TARGETARCH}/kubectl" \
    && echo "$(curl -fsSL "https://dl.k8s.io/release/${KUBECTL_VERSION}/bin/linux/${TARGETARCH}/kubectl.sha256")  /kubectl" \
       | sha256sum -c - \
    && chmod 0755 /kubectl

FROM debian:bookworm-slim
# ca-certificates: HTTPS probes, webhooks and the analyst verify servers against the
# system roots. curl: the HEALTHCHECK below, and a way to reach the API from `kubectl exec`.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 autoheal \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/autoheal \
       --no-create-home --shell /usr/sbin/nologin autoheal \
    && install -d -o autoheal -g autoheal -m 0700 /var/lib/autoheal \
    && install -d -m 0755 /etc/autoheal
COPY --from=build /usr/local/bin/autoheal-tui /usr/local/bin/autoheal-tui
COPY --from=kubectl /kubectl /usr/local/bin/kubectl

# A fixed uid, so a volume's owner and a pod's runAsUser/fsGroup can be set to match.
USER 10001:10001
# HOME is the journal's directory: the only place the user may write (kubectl keeps its
# discovery cache under ~/.kube). The config is mounted read-only at /etc/autoheal.
ENV HOME=/var/lib/autoheal
WORKDIR /var/lib/autoheal
VOLUME /var/lib/autoheal
EXPOSE 7311

# /health answers without a key (for supervisors), 503 once the engine stalls or stops.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:7311/health"]

# SIGTERM stops cleanly: running actions finish (up to 60 s) and the journal is synced.
# Give it the time: `docker run --stop-timeout 90`, terminationGracePeriodSeconds: 90.
STOPSIGNAL SIGTERM
ENTRYPOINT ["autoheal-tui"]
# Off loopback `serve` refuses to start without a key: pass AUTOHEAL_TOKEN (or set api.token).
CMD ["serve", "--config", "/etc/autoheal/config.yaml", "--journal", "/var/lib/autoheal/journal.jsonl", "--listen", "0.0.0.0:7311"]
