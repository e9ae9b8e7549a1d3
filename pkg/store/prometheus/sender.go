package prometheus

import (
	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/thanos/pkg/store/labelpb"
	"github.com/thanos-io/thanos/pkg/store/storepb"
)

// maxBatchBytes bounds the encoded size of one batch: long series in a full
// batch would otherwise pass the 4 MiB that gRPC clients accept by default.
const maxBatchBytes = 1 << 20

// maxBatchSeries bounds the series of one batch, whatever a client asks for
// in response_batch_size: the count comes from the wire and sizes the batch
// buffer, so an unbounded one would let a single request take the process's
// memory.
const maxBatchSeries = 1024

// sender writes series to a Series stream: in batches when the client asked
// for them, up to the client's series limit, checking the order it promises.
type sender struct {
	srv       storepb.Store_SeriesServer
	batchSize int
	limit     int64

	batch    []*storepb.Series
	bytes    int // encoded size of batch
	last     labels.Labels
	distinct int64
	unsorted bool
}

// newSender sends in batches of batchSize series, at most maxBatchSeries;
// below 2, one series per message.
func newSender(srv storepb.Store_SeriesServer, batchSize int64, limit int64) *sender {
	return &sender{srv: srv, batchSize: int(max(1, min(batchSize, maxBatchSeries))), limit: limit}
}

// full reports whether the series limit has been reached.
func (s *sender) full() bool { return s.limit > 0 && s.distinct >= s.limit }

func (s *sender) send(series *storepb.Series) error {
	lset := labelpb.ZLabelsToPromLabels(series.Labels)
	if c := labels.Compare(lset, s.last); c != 0 || s.distinct == 0 {
		// Consecutive frames of one series share its labels: one series.
		if s.full() {
			return nil
		}
		if c < 0 && s.distinct > 0 {
			s.unsorted = true
		}
		s.distinct++
		s.last = lset
	}
	if s.batchSize <= 1 {
		return s.srv.Send(storepb.NewSeriesResponse(series))
	}
	s.batch = append(s.batch, series)
	s.bytes += series.Size()
	if len(s.batch) >= s.batchSize || s.bytes >= maxBatchBytes {
		return s.flush()
	}
	return nil
}

func (s *sender) flush() error {
	if len(s.batch) == 0 {
		return nil
	}
	// A new slice each time: gRPC may look at a sent message after Send.
	batch := s.batch
	s.batch, s.bytes = make([]*storepb.Series, 0, s.batchSize), 0
	return s.srv.Send(storepb.NewBatchResponse(batch))
}
