# syntax=docker/dockerfile:1
# Build:
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) \
#     --build-arg REVISION=$(git rev-parse HEAD) \
#     --build-arg CREATED=$(date -u -d @$(git log -1 --format=%ct) +%Y-%m-%dT%H:%M:%SZ) -t authd .
# For amd64 and arm64 at once (BuildKit cross-compiles with Go on the build
# machine's platform, no emulation): docker buildx build --platform
# linux/amd64,linux/arm64 with the same build args.
# Without Docker: `go run ./deploy/image` builds the same image, reproducibly,
# as an OCI image layout (docs/operations.md, "Container image").
#
# The final image is FROM scratch: the static binary, CA certificates and the
# passwd and group entries of the non-root user 65532 (distroless's
# "nonroot"); no shell, no package manager. It needs no writable filesystem.
# Migrations are embedded in the binary. deploy/image/image_test.go checks
# that this file and deploy/image build the same layout.

FROM --platform=$BUILDPLATFORM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# Set by BuildKit to the platform being built; empty with the classic
# builder, and then Go builds for the machine's own.
ARG TARGETARCH
RUN CGO_ENABLED=0 GOOS=linux GOARCH=${TARGETARCH} go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/authd ./cmd/authd
# The image's first layer: what distroless/static would provide.
RUN install -D -m 0644 deploy/image/rootfs/etc/passwd /rootfs/etc/passwd \
 && install -D -m 0644 deploy/image/rootfs/etc/group /rootfs/etc/group \
 && install -D -m 0644 /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ca-certificates.crt

FROM scratch
# OCI labels, as deploy/image writes them: the version, commit and commit
# time come from the build args above.
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
LABEL org.opencontainers.image.title="authd" \
      org.opencontainers.image.description="authd, a JWT authentication service on PostgreSQL" \
      org.opencontainers.image.source="https://github.com/authd/authd" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
COPY --from=build /rootfs/ /
COPY --from=build /out/authd /usr/local/bin/authd
USER 65532:65532
WORKDIR /
EXPOSE 8000
ENV PATH=/usr/local/bin PORT=8000
# Docker only: OCI images and Kubernetes have no HEALTHCHECK (the Deployment
# has probes).
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/authd", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/authd"]
CMD ["serve"]
