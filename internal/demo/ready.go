package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// check answers nil once a component is ready, or why it is not.
type check func(ctx context.Context, client *http.Client) error

// poll runs check until it passes or ctx ends, returning the last reason.
func poll(ctx context.Context, c check) error {
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		err := c(ctx, client)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-tick.C:
		}
	}
}

// answersOK is ready when url answers 200.
func answersOK(url string) check {
	return func(ctx context.Context, client *http.Client) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", url, resp.Status)
		}
		return nil
	}
}

// storesHealthy is ready when the query's /api/v1/stores lists n stores
// without error.
func storesHealthy(queryURL string, n int) check {
	return func(ctx context.Context, client *http.Client) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, queryURL+"/api/v1/stores", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/api/v1/stores: %s", resp.Status)
		}
		var body struct {
			Data map[string][]struct {
				LastError *string `json:"lastError"`
			} `json:"data"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			return fmt.Errorf("/api/v1/stores: %w", err)
		}
		healthy := 0
		for _, stores := range body.Data {
			for _, s := range stores {
				if s.LastError == nil {
					healthy++
				}
			}
		}
		if healthy < n {
			return fmt.Errorf("%d of %d stores healthy", healthy, n)
		}
		return nil
	}
}
