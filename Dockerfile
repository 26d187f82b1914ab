# syntax=docker/dockerfile:1
#
# aicred in a container: a static binary on a distroless base, running as
# the distroless "nonroot" user (65532).
#
#   docker build -t aicred --build-arg VERSION=v0.1.0 .
#   docker run --rm -p 8787:8787 -e AICRED_MASTER_KEY="$(openssl rand -base64 32)" aicred
#   docker run --rm -v "$PWD:/src:ro" aicred scan /src
#
# The default command serves with /etc/aicred/aicred.yaml (examples/container.yaml);
# mount your own configuration over it.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# VERSION names the release in "aicred version"; the build context has no
# .git, so without it the version is 0.1.0-dev.
ARG VERSION=""
RUN CGO_ENABLED=0 go build -trimpath \
    -ldflags="-s -w ${VERSION:+-X github.com/aicred/aicred.Version=${VERSION}}" \
    -o /out/aicred ./cmd/aicred

FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="aicred" \
      org.opencontainers.image.description="Find, inventory, fence and revoke AI/ML credentials" \
      org.opencontainers.image.source="https://github.com/aicred/aicred" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/aicred /aicred
COPY examples/container.yaml /etc/aicred/aicred.yaml
USER nonroot:nonroot
EXPOSE 8787
ENTRYPOINT ["/aicred"]
CMD ["serve", "--config", "/etc/aicred/aicred.yaml"]
