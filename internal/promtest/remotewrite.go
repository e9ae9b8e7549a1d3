package promtest

import (
	"bytes"
	"io"
	"net/http"
	"sort"
	"testing"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
)

// RemoteWrite appends the families' samples, native histograms included, to
// the server through its remote-write receiver (it needs
// --web.enable-remote-write-receiver), in one request: the head takes
// samples of any age then, as long as it is empty or they are not older
// than what it holds, and cuts blocks of them as it does of scraped ones.
func (s *Server) RemoteWrite(t testing.TB, families ...Family) {
	t.Helper()
	var req prompb.WriteRequest
	for _, f := range families {
		name := f.Name
		if f.Type == "counter" {
			name += "_total"
		}
		for _, series := range f.Series {
			ts := prompb.TimeSeries{Labels: []prompb.Label{{Name: "__name__", Value: name}}}
			for n, v := range series.Labels {
				ts.Labels = append(ts.Labels, prompb.Label{Name: n, Value: v})
			}
			sort.Slice(ts.Labels, func(i, j int) bool { return ts.Labels[i].Name < ts.Labels[j].Name })
			for _, smpl := range series.Samples {
				ts.Samples = append(ts.Samples, prompb.Sample{Timestamp: smpl.T, Value: smpl.V})
			}
			for _, h := range series.Histograms {
				ts.Histograms = append(ts.Histograms, prompb.FromIntHistogram(h.T, h.H))
			}
			req.Timeseries = append(req.Timeseries, ts)
		}
	}
	raw, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	hreq, err := http.NewRequest(http.MethodPost, s.URL()+"/api/v1/write", bytes.NewReader(snappy.Encode(nil, raw)))
	if err != nil {
		t.Fatal(err)
	}
	hreq.Header.Set("Content-Encoding", "snappy")
	hreq.Header.Set("Content-Type", "application/x-protobuf")
	hreq.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		t.Fatalf("remote write: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("remote write: %s: %s", resp.Status, body)
	}
}
