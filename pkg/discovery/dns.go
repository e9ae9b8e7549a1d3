package discovery

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// addressResolver turns configured addresses into host:port targets and
// remembers the last good answer of every DNS address, so that a failed
// lookup does not take endpoints away.
type addressResolver struct {
	resolver Resolver
	timeout  time.Duration
	logger   *slog.Logger
	metrics  *metrics

	// lastGood is keyed by Address.String(). Only the discovery loop uses it.
	lastGood map[string][]string
}

func newAddressResolver(r Resolver, timeout time.Duration, logger *slog.Logger, m *metrics) *addressResolver {
	return &addressResolver{
		resolver: r,
		timeout:  timeout,
		logger:   logger,
		metrics:  m,
		lastGood: map[string][]string{},
	}
}

// resolve returns the sorted, deduplicated targets of addrs. answered is
// false while some DNS address has never been resolved successfully.
func (r *addressResolver) resolve(ctx context.Context, addrs []Address) (targets []string, answered bool) {
	type result struct {
		key     string
		targets []string
		err     error
	}
	var (
		results = make([]result, len(addrs))
		wg      sync.WaitGroup
	)
	for i, a := range addrs {
		results[i].key = a.String()
		if a.Lookup == LookupNone {
			results[i].targets, _ = resolveAddress(ctx, nil, a)
			continue
		}
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, r.timeout)
			defer cancel()
			results[i].targets, results[i].err = resolveAddress(ctx, r.resolver, a)
		})
	}
	wg.Wait()

	answered = true
	seen := make(map[string]bool, len(results))
	for i, res := range results {
		if addrs[i].Lookup == LookupNone {
			targets = append(targets, res.targets...)
			continue
		}
		seen[res.key] = true
		r.metrics.dnsLookups.Inc()
		if res.err != nil {
			r.metrics.dnsLookupErrors.Inc()
			last, ok := r.lastGood[res.key]
			if !ok {
				answered = false
			}
			r.logger.Warn("DNS lookup failed, keeping the last good answer", "address", res.key, "kept", len(last), "err", res.err)
			targets = append(targets, last...)
			continue
		}
		if len(res.targets) == 0 {
			r.logger.Debug("DNS lookup found no targets", "address", res.key)
		}
		r.lastGood[res.key] = res.targets
		targets = append(targets, res.targets...)
	}
	// Forget the answers of addresses that are no longer configured.
	for key := range r.lastGood {
		if !seen[key] {
			delete(r.lastGood, key)
		}
	}
	slices.Sort(targets)
	return slices.Compact(targets), answered
}

// retryBackoff spaces the retries of a first lookup that failed: soon at
// first, so a DNS hiccup at startup does not leave the querier empty for a
// whole interval, and never less often than the interval itself.
type retryBackoff struct {
	min, max, next time.Duration
}

func newRetryBackoff(interval time.Duration) *retryBackoff {
	first := min(time.Second, interval/10)
	return &retryBackoff{min: first, max: interval, next: first}
}

func (b *retryBackoff) wait() time.Duration {
	d := b.next
	b.next = min(2*b.next, b.max)
	return d
}

func (b *retryBackoff) reset() { b.next = b.min }
