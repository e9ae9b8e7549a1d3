# One image, one binary, as Thanos's: the entrypoint is /bin/tandem and the
# first argument the component, so `args: [sidecar, ...]` and
# `args: [query, ...]` written for Thanos's image work unchanged. Every
# build needs the slicelabels tag (see the Makefile).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN LDFLAGS="-X github.com/prometheus/common/version.Version=$(cat VERSION)" && \
    CGO_ENABLED=0 go build -tags slicelabels -trimpath -ldflags "$LDFLAGS" -o /out/tandem ./cmd/tandem

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tandem /bin/tandem
USER nonroot
EXPOSE 10901 10902
ENTRYPOINT ["/bin/tandem"]
