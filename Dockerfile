# One image with both binaries: /bin/sidecar and /bin/query, as deploy/ uses
# them. Every build needs the slicelabels tag (see the Makefile).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN LDFLAGS="-X github.com/prometheus/common/version.Version=$(cat VERSION)" && \
    CGO_ENABLED=0 go build -tags slicelabels -trimpath -ldflags "$LDFLAGS" -o /out/sidecar ./cmd/sidecar && \
    CGO_ENABLED=0 go build -tags slicelabels -trimpath -ldflags "$LDFLAGS" -o /out/query ./cmd/query

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/sidecar /out/query /bin/
USER nonroot
EXPOSE 10901 10902
ENTRYPOINT ["/bin/query"]
