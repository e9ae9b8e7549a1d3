package discovery

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// storeStatusJSON is one endpoint in the shape of Thanos's /api/v1/stores:
// label sets render as objects, lastError as a string or null.
type storeStatusJSON struct {
	Name      string          `json:"name"`
	LastCheck time.Time       `json:"lastCheck"`
	LastError *string         `json:"lastError"`
	LabelSets []labels.Labels `json:"labelSets"`
	MinTime   int64           `json:"minTime"`
	MaxTime   int64           `json:"maxTime"`
}

// storesByComponent groups statuses by component type, e.g. "sidecar".
func storesByComponent(statuses []EndpointStatus) map[string][]storeStatusJSON {
	byComponent := map[string][]storeStatusJSON{}
	for _, st := range statuses {
		js := storeStatusJSON{
			Name:      st.Name,
			LastCheck: st.LastCheck,
			LabelSets: st.LabelSets,
			MinTime:   st.MinTime,
			MaxTime:   st.MaxTime,
		}
		if st.LastError != nil {
			msg := st.LastError.Error()
			js.LastError = &msg
		}
		byComponent[st.ComponentType] = append(byComponent[st.ComponentType], js)
	}
	return byComponent
}

// StoresHandler serves /api/v1/stores: the status of every endpoint grouped
// by component type, in the Prometheus API envelope.
func (s *Set) StoresHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		body, err := json.Marshal(struct {
			Status string                       `json:"status"`
			Data   map[string][]storeStatusJSON `json:"data"`
		}{
			Status: "success",
			Data:   storesByComponent(s.Status()),
		})
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			// The envelope of a failure, built without the encoder that failed.
			_, _ = w.Write([]byte(`{"status":"error","errorType":"internal","error":"encoding endpoint status failed"}`))
			return
		}
		_, _ = w.Write(body)
	})
}
