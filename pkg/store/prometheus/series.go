package prometheus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/thanos-io/thanos/pkg/store/labelpb"
	"github.com/thanos-io/thanos/pkg/store/storepb"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tandem-metrics/tandem/pkg/store/blocks"
)

// Series streams the series that match r. The part of the range that
// Prometheus has persisted in blocks is read from its data directory when
// the Store has one; the rest comes through remote read. Chunks are passed
// on as stored or as they arrive, never re-encoded or collected.
func (s *Store) Series(r *storepb.SeriesRequest, srv storepb.Store_SeriesServer) error {
	ctx := srv.Context()
	external, matchers, ok, err := s.selection(ctx, r.Matchers)
	if err != nil {
		return err
	}
	mint := max(r.MinTime, s.target.MinTime())
	if !ok || mint > r.MaxTime {
		return nil
	}
	matchers = selective(matchers)

	out := newSender(srv, r.ResponseBatchSize, r.Limit)
	m := &merger{
		shape:      newShaper(external, r.WithoutReplicaLabels),
		out:        out,
		skipChunks: r.SkipChunks,
		maxt:       r.MaxTime,
		cut:        noCut(),
	}
	m.order = newOrderer(m.shape.inserted, out.send)

	end := int64(math.MinInt64)
	var nblocks int
	// Without chunks, the head's series come from the series API, which
	// needs a matcher.
	seriesAPI := r.SkipChunks && len(matchers) > 0
	defer func() { traceSources(ctx, nblocks, m.localBytes, max(mint, end), r.MaxTime, seriesAPI) }()
	if set, e := s.openBlocks(mint, r.MaxTime); set != nil {
		defer set.Close()
		end, nblocks = e, set.Len()
		m.local = set.Select(ctx, mint, min(r.MaxTime, end-1), r.SkipChunks, matchers)
		if err := m.nextLocal(); err != nil {
			return err
		}
	}
	var warnings []string
	if from := max(mint, end); from <= r.MaxTime {
		var err error
		if seriesAPI {
			warnings, err = s.seriesLabels(ctx, from, r.MaxTime, matchers, m)
		} else {
			err = s.remoteRead(ctx, r, from, matchers, m)
		}
		if err != nil {
			return err
		}
	}
	if err := m.drainLocal(nil); err != nil {
		return err
	}
	s.metrics.blockBytes.Add(float64(m.localBytes))
	if err := m.order.flush(); err != nil {
		return err
	}
	if out.unsorted && m.conflict != "" {
		msg := fmt.Sprintf("series label %q collides with an external or replica label of %s: series may be out of order", m.conflict, s.client.URL())
		s.logger.Warn("series order not preserved", "label", m.conflict)
		if err := srv.Send(storepb.NewWarnSeriesResponse(errors.New(msg))); err != nil {
			return err
		}
	}
	if err := out.flush(); err != nil {
		return err
	}
	for _, w := range warnings {
		if err := srv.Send(storepb.NewWarnSeriesResponse(fmt.Errorf("%s: %s", s.client.URL(), w))); err != nil {
			return err
		}
	}
	return nil
}

// errEnough ends reading once the sender has all the series it may send.
var errEnough = errors.New("enough series")

// seriesLabels relays the label sets Prometheus's series API gives for
// [from, maxt] to m, for a request without chunks: remote read would have
// Prometheus read and cut every chunk of its head for them. It returns
// Prometheus's warnings.
func (s *Store) seriesLabels(ctx context.Context, from, maxt int64, matchers []*labels.Matcher, m *merger) ([]string, error) {
	warnings, err := s.client.Series(ctx, matchers, from, maxt, func(lset []prompb.Label) error {
		if m.out.full() {
			return errEnough
		}
		return m.remote(&chunkedSeries{Labels: lset})
	})
	switch {
	case errors.Is(err, errEnough):
		return nil, nil
	case errors.Is(err, errSeriesOrder):
		return nil, status.Error(codes.Internal, err.Error())
	case err != nil && status.Code(err) == codes.Unknown:
		return nil, prometheusError(ctx, "read series", err)
	}
	return warnings, err
}

// traceSources tells the call's span where its answer came from: how many
// blocks and how many bytes of their chunks, and from when on Prometheus
// was asked, if at all: by remote read, or by its series API for a call
// without chunks.
func traceSources(ctx context.Context, nblocks, blockBytes int, promFrom, maxt int64, seriesAPI bool) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(attribute.Int("tandem.sidecar.blocks", nblocks), attribute.Int("tandem.sidecar.block_chunk_bytes", blockBytes))
	switch {
	case promFrom > maxt:
	case seriesAPI:
		span.SetAttributes(attribute.Int64("tandem.sidecar.series_api_from", promFrom))
	default:
		span.SetAttributes(attribute.Int64("tandem.sidecar.remote_read_from", promFrom))
	}
}

// remoteRead relays Prometheus's remote-read answer over [from, r.MaxTime]
// to m. Prometheus is asked past r.MaxTime when it ends near the newest
// sample (see openEndMargin).
func (s *Store) remoteRead(ctx context.Context, r *storepb.SeriesRequest, from int64, matchers []*labels.Matcher, m *merger) error {
	end := s.newest.readEnd(r.MaxTime, requestStep(r), time.Now())
	q := &prompb.Query{
		StartTimestampMs: from,
		EndTimestampMs:   end,
		Matchers:         toPromMatchers(matchers),
	}
	headMin := s.target.BlockPlan().headMin
	hintsFrom, cutFrom := readStart(from, r.MaxTime, headMin)
	hintsTo, cutTo := readStop(from, end, headMin)
	q.Hints = readHints(r, hintsFrom, hintsTo)
	m.cut = cutter{from: cutFrom, to: cutTo}
	defer func() { s.newest.note(m.newest) }()
	body, err := s.client.RemoteRead(ctx, q)
	if err != nil {
		return prometheusError(ctx, "remote read", err)
	}
	defer body.Close()
	frames := NewFrameReader(body, s.maxFrameSize)
	var dec frameDecoder
	for !m.out.full() {
		frame, err := frames.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return prometheusError(ctx, "remote read", err)
		}
		s.metrics.frameBytes.Add(float64(len(frame)))
		if err := dec.decode(frame, m.remote); err != nil {
			if errors.Is(err, errBadFrame) {
				return status.Error(codes.Internal, err.Error())
			}
			return err
		}
	}
	return nil
}

// openBlocks holds open the blocks that answer the start of [mint, maxt],
// and returns them with the time from which remote read answers. It
// returns nil when no block answers any of it; a block it cannot open is
// logged and left to remote read with the rest.
func (s *Store) openBlocks(mint, maxt int64) (*blocks.Set, int64) {
	if s.blocks == nil {
		return nil, math.MinInt64
	}
	p := s.target.BlockPlan()
	if p.end <= mint {
		return nil, math.MinInt64
	}
	set, err := s.blocks.Acquire(p.metas, func(b blocks.Meta) bool {
		return b.MaxTime <= p.end && b.MaxTime > mint && b.MinTime <= maxt
	})
	if err != nil {
		s.logBlockError(err)
		return nil, math.MinInt64
	}
	return set, p.end
}

func (s *Store) logBlockError(err error) {
	msg := "cannot read a block Prometheus has from --tsdb.path; reading through remote read instead"
	if errors.Is(err, blocks.ErrNotFound) {
		msg += " (is --tsdb.path this Prometheus's data directory?)"
	}
	s.blockErr.warn(s.logger, msg, err, "path", s.blocks.Path())
}

// blockError is the status of a failed read of the blocks: the caller's
// cancellation as such, anything else Internal.
func blockError(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	return status.Errorf(codes.Internal, "read Prometheus's blocks: %v", err)
}

// merger joins the series of the blocks and of remote read into one stream
// in Prometheus's label order. Both come sorted; a series in both is sent
// once, the blocks' older chunks first.
type merger struct {
	shape      *shaper
	order      *orderer
	out        *sender
	skipChunks bool
	conflict   string
	// maxt is the request's end: remote read may be asked past it.
	maxt int64
	// newest is the end of the newest chunk remote read returned.
	newest int64
	// cut cuts remote read's chunks at the read's start and end, where
	// Prometheus is asked not to.
	cut cutter

	local      *blocks.SeriesSet // nil: no blocks
	localKey   labels.Labels     // the next local series' key, nil if none
	localFinal labels.Labels
	localBuf   []prompb.Label
	localBytes int
}

// push shapes and orders one series.
func (m *merger) push(key, final labels.Labels, conflict string, chunks []storepb.AggrChunk) error {
	if conflict != "" {
		m.conflict = conflict
	}
	series := &storepb.Series{Labels: labelpb.ZLabelsFromPromLabels(final), Chunks: chunks}
	return m.order.push(key, final, series)
}

// nextLocal moves to the next series of the blocks; its error is a
// status.
func (m *merger) nextLocal() error {
	m.localKey = nil
	if m.local == nil {
		return nil
	}
	if !m.local.Next() {
		if err := m.local.Err(); err != nil {
			return blockError(err)
		}
		return nil
	}
	lset, _ := m.local.At()
	m.localBuf = m.localBuf[:0]
	for _, l := range lset {
		m.localBuf = append(m.localBuf, prompb.Label{Name: l.Name, Value: l.Value})
	}
	var conflict string
	m.localKey, m.localFinal, conflict = m.shape.shape(m.localBuf)
	if conflict != "" {
		m.conflict = conflict
	}
	return nil
}

// drainLocal sends the blocks' series before key; nil sends all that are
// left.
func (m *merger) drainLocal(key labels.Labels) error {
	for m.localKey != nil && !m.out.full() && (key == nil || labels.Compare(m.localKey, key) < 0) {
		if err := m.push(m.localKey, m.localFinal, "", m.takeLocal()); err != nil {
			return err
		}
		if err := m.nextLocal(); err != nil {
			return err
		}
	}
	return nil
}

// takeLocal returns the chunks of the blocks' current series.
func (m *merger) takeLocal() []storepb.AggrChunk {
	_, chunks := m.local.At()
	for _, c := range chunks {
		m.localBytes += len(c.Raw.Data)
	}
	return chunks
}

// remote takes one series of a remote-read frame.
func (m *merger) remote(cs *chunkedSeries) error {
	key, final, conflict := m.shape.shape(cs.Labels)
	if err := m.drainLocal(key); err != nil {
		return err
	}
	var older []storepb.AggrChunk
	if m.localKey != nil && labels.Compare(m.localKey, key) == 0 {
		older = m.takeLocal()
		if err := m.nextLocal(); err != nil {
			return err
		}
	}
	var chunks []storepb.AggrChunk
	if !m.skipChunks {
		// One allocation for the series' chunks and one for their data
		// headers; the data stays in the frame.
		chunks = make([]storepb.AggrChunk, len(older), len(older)+len(cs.Chunks))
		copy(chunks, older)
		raws := make([]storepb.Chunk, 0, len(cs.Chunks))
		for _, c := range cs.Chunks {
			m.newest = max(m.newest, knownEnd(c.MaxTimeMs))
			if c.MinTimeMs > m.maxt {
				// Read past the request's end (see openEndMargin).
				continue
			}
			c, ok, err := m.cut.cut(c)
			if err != nil {
				return status.Errorf(codes.Internal, "cut a chunk of series %s to the read's range: %v", key, err)
			}
			if !ok {
				continue
			}
			enc, err := chunkEncoding(c.Type)
			if err != nil {
				return status.Error(codes.Internal, err.Error())
			}
			raws = append(raws, storepb.Chunk{Type: enc, Data: c.Data})
			chunks = append(chunks, storepb.AggrChunk{MinTime: c.MinTimeMs, MaxTime: c.MaxTimeMs, Raw: &raws[len(raws)-1]})
		}
		if len(chunks) == 0 && len(cs.Chunks) > 0 {
			// All its samples are after the request's end, or outside
			// the range of a read the sidecar cuts.
			return nil
		}
	}
	return m.push(key, final, conflict, chunks)
}
