package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
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
		var body struct {
			Data map[string][]struct {
				LastError *string `json:"lastError"`
			} `json:"data"`
		}
		if err := getJSON(ctx, client, queryURL+"/api/v1/stores", &body); err != nil {
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

// all is ready when every check is, in order.
func all(checks ...check) check {
	return func(ctx context.Context, client *http.Client) error {
		for _, c := range checks {
			if err := c(ctx, client); err != nil {
				return err
			}
		}
		return nil
	}
}

// answersData is ready when the query's answer to expr now is a non-empty
// vector: the live scrapes have reached it, so what the demo prints to try
// answers at once.
func answersData(queryURL, expr string) check {
	return func(ctx context.Context, client *http.Client) error {
		var body struct {
			Data struct {
				Result []json.RawMessage `json:"result"`
			} `json:"data"`
		}
		if err := getJSON(ctx, client, queryURL+"/api/v1/query?"+url.Values{"query": {expr}}.Encode(), &body); err != nil {
			return fmt.Errorf("%s: %w", expr, err)
		}
		if len(body.Data.Result) == 0 {
			return fmt.Errorf("%s: no live data yet", expr)
		}
		return nil
	}
}

// getJSON decodes the JSON answer of a GET that answers 200 into v.
func getJSON(ctx context.Context, client *http.Client, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
