# orbit-server and orbit-bench in a static, non-root image FROM scratch.
#
# The binaries are not compiled in this file: scripts/build-image.sh builds
# them on the host (CGO_ENABLED=0, -trimpath, version from `git describe`)
# and stages a build context holding exactly what is copied below, because
# a multi-stage build would need a Go base image pulled from a registry.
# Build with `make image` (or ./scripts/build-image.sh), check the result
# with `make image-check`; docs/deploy.md explains both and how to run it.
#
# Staged context (scripts/build-image.sh writes it):
#   orbit-server, orbit-bench          static linux binaries
#   rootfs/etc/passwd, rootfs/etc/group  user and group orbit, 65532:65532
#   rootfs/etc/ssl/certs/ca-certificates.crt  the build host's CA bundle
#   data/                              empty, becomes /data (owned 65532)
FROM scratch

ARG VERSION=unknown
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=https://github.com/orbit-go/orbit

LABEL org.opencontainers.image.title="orbit-server" \
      org.opencontainers.image.description="Orbit virtual-actor cluster server (orbit-server) and load tool (orbit-bench)" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"

COPY rootfs/ /
COPY --chown=65532:65532 data/ /data/
COPY orbit-server orbit-bench /

# Go's crypto/x509 reads this file on Linux; set explicitly so that a
# mounted bundle elsewhere can replace it with -e SSL_CERT_FILE=...
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt

USER 65532:65532
# The embedded default configuration writes its memory backup to
# --data-dir; /data is that folder and the working directory.
WORKDIR /data
VOLUME /data

# gRPC (every interface by default) and the admin port (/metrics, /healthz,
# /readyz). The admin port is moved off loopback so that probes and
# Prometheus reach it from outside the container's network namespace; it
# serves no write endpoint, and with [server.auth] mode = "on" every path
# but /healthz needs role reader (docs/deploy.md, "Admin port").
EXPOSE 50051 9464
STOPSIGNAL SIGTERM
ENTRYPOINT ["/orbit-server"]
CMD ["serve", "--data-dir", "/data", "--admin-addr", "0.0.0.0:9464"]
