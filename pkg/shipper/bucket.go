package shipper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/thanos-io/objstore"
	"github.com/thanos-io/objstore/client"
	objstoreotel "github.com/thanos-io/objstore/tracing/opentelemetry"
	"go.opentelemetry.io/otel/trace"
)

// NewBucket opens the bucket that config describes, in Thanos's format
// (type: S3|GCS|AZURE|SWIFT|COS|ALIYUNOSS|BOS|OCI|OBS|FILESYSTEM, config,
// prefix), with Thanos's client for it. Its operations are counted under
// Thanos's names (thanos_objstore_bucket_operations_total,
// thanos_objstore_bucket_operation_failures_total, ...) in reg and traced
// with tracer, if not nil.
func NewBucket(config []byte, logger *slog.Logger, reg prometheus.Registerer, tracer trace.Tracer) (objstore.InstrumentedBucket, error) {
	if len(strings.TrimSpace(string(config))) == 0 {
		return nil, errors.New("empty object store config")
	}
	bkt, err := client.NewBucket(kitLogger{logger}, config, "sidecar", nil)
	if err != nil {
		return nil, err
	}
	inst := objstore.InstrumentedBucket(objstore.WrapWithMetrics(bkt, prometheus.WrapRegistererWithPrefix("thanos_", reg), bkt.Name()))
	if tracer != nil {
		inst = objstoreotel.WrapWithTraces(inst, tracer)
	}
	return inst, nil
}

// kitLogger is the go-kit interface (Log(keyvals...)) that objstore's
// clients log through, writing to slog.
type kitLogger struct{ logger *slog.Logger }

func (k kitLogger) Log(keyvals ...any) error {
	level, msg := slog.LevelInfo, ""
	attrs := make([]any, 0, len(keyvals))
	for i := 0; i < len(keyvals); i += 2 {
		key := fmt.Sprint(keyvals[i])
		if i+1 == len(keyvals) {
			attrs = append(attrs, "extra", key)
			break
		}
		switch v := keyvals[i+1]; key {
		case "level":
			switch fmt.Sprint(v) {
			case "debug":
				level = slog.LevelDebug
			case "warn":
				level = slog.LevelWarn
			case "error":
				level = slog.LevelError
			}
		case "msg":
			msg = fmt.Sprint(v)
		default:
			attrs = append(attrs, key, v)
		}
	}
	k.logger.Log(context.Background(), level, msg, attrs...)
	return nil
}
