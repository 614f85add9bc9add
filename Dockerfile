# syntax=docker/dockerfile:1
#
# Image of the Braze messaging gateway: two static binaries on a distroless base, run as a non-root user.
#   docker build --build-arg VERSION=$(git describe --tags --always) -t braze-gateway .
#   docker run --rm braze-gateway version
# /usr/local/bin/gateway is the entrypoint; the Braze simulator is /usr/local/bin/brazesim
# (docker run --entrypoint /usr/local/bin/brazesim braze-gateway -addr 0.0.0.0:4010).
# There is no shell in the final image. deploy/check verifies these properties.

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
WORKDIR /src
# Dependencies first, so that source changes do not invalidate the module cache layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ENV CGO_ENABLED=0
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    GOOS="${TARGETOS:-linux}" GOARCH="${TARGETARCH:-amd64}" \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/gateway ./cmd/gateway && \
    GOOS="${TARGETOS:-linux}" GOARCH="${TARGETARCH:-amd64}" \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/brazesim ./cmd/brazesim

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="braze-gateway" \
      org.opencontainers.image.description="Kafka to Braze messaging gateway" \
      org.opencontainers.image.source="https://github.com/brazegw/gateway" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/gateway /out/brazesim /usr/local/bin/
# 65532 is distroless's "nonroot"; numeric so that Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
# Admin HTTP: /metrics, /healthz, /readyz (set GATEWAY_ADMIN_ADDR=0.0.0.0:8080 to listen beyond loopback).
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/gateway"]
CMD ["run"]
