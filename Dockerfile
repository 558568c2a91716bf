# syntax=docker/dockerfile:1
# Build: docker build --build-arg VERSION=$(git describe --tags --always --dirty) -t authd .
# Without Docker: `go run ./deploy/image` builds the same image, reproducibly,
# as an OCI image layout (docs/operations.md, "Container image").
#
# The final image is FROM scratch: the static binary, CA certificates and the
# passwd and group entries of the non-root user 65532 (distroless's
# "nonroot"); no shell, no package manager. It needs no writable filesystem.
# Migrations are embedded in the binary. deploy/image/image_test.go checks
# that this file and deploy/image build the same layout.

FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/authd ./cmd/authd
# The image's first layer: what distroless/static would provide.
RUN install -D -m 0644 deploy/image/rootfs/etc/passwd /rootfs/etc/passwd \
 && install -D -m 0644 deploy/image/rootfs/etc/group /rootfs/etc/group \
 && install -D -m 0644 /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ca-certificates.crt

FROM scratch
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
