package reloader

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// reloadTimeout bounds one reload request. Prometheus answers only when the
// reload is done, which with many rule files takes a while, but a hung
// request must not stop the reloader from noticing newer changes forever.
const reloadTimeout = 2 * time.Minute

// reload asks Prometheus to re-read its config and rules. Prometheus answers
// 200 when it applied them, and 500 with the reason when it rejected them;
// it then keeps running the config it had.
func (r *Reloader) reload(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, reloadTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.reloadURL, nil)
	if err != nil {
		return err
	}
	resp, err := r.opts.Client.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", r.reloadURL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	reason := strings.TrimSpace(string(body))
	switch resp.StatusCode {
	case http.StatusForbidden, http.StatusNotFound, http.StatusMethodNotAllowed:
		return fmt.Errorf("POST %s: %s: %s (is Prometheus running with --web.enable-lifecycle?)", r.reloadURL, resp.Status, reason)
	}
	return fmt.Errorf("reload rejected by Prometheus (%s): %s", resp.Status, reason)
}
