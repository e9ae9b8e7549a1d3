package discovery

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
)

// Set is the set of discovered endpoints. It resolves the configured
// addresses, keeps one gRPC connection per resulting address, and calls Info
// on each to know which are healthy.
type Set struct {
	opts        Options
	logger      *slog.Logger
	metrics     *metrics
	static      []Address
	files       *fileSD // nil without --store.sd-files
	resolver    *addressResolver
	dialOptions []grpc.DialOption

	// discovered carries the latest targets from the discovery loop to the
	// check loop; it holds at most one list, a newer one replaces an older.
	discovered chan []string
	ready      atomic.Bool

	mu        sync.RWMutex
	endpoints map[string]*Endpoint
	// retiring are connections of endpoints that left discovery, closed
	// once their grace period ends. Only the check loop uses them.
	retiring []retiringConn
}

type retiringConn struct {
	endpoint *Endpoint
	closeAt  time.Time
}

// NewSet parses the addresses and reads the file SD files once: a bad
// address or a missing or bad file is an error, which names the flag. Metrics
// are registered on reg if it is not nil.
func NewSet(opts Options, logger *slog.Logger, reg prometheus.Registerer) (*Set, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	resolver, err := opts.resolver()
	if err != nil {
		return nil, err
	}
	static, err := ParseAddresses(opts.Endpoints)
	if err != nil {
		return nil, fmt.Errorf("--endpoint: %w", err)
	}

	m := newMetrics()
	s := &Set{
		opts:       opts,
		logger:     logger,
		metrics:    m,
		static:     static,
		resolver:   newAddressResolver(resolver, opts.DNSInterval, logger, m),
		discovered: make(chan []string, 1),
		endpoints:  map[string]*Endpoint{},
	}
	if len(opts.FileSDFiles) > 0 {
		s.files, err = newFileSD(opts.FileSDFiles, opts.FileSDInterval, logger, m)
		if err != nil {
			return nil, fmt.Errorf("--store.sd-files: %w", err)
		}
	}

	// gRPC's reconnect backoff grows to two minutes by default; cap it at
	// the Info interval so an endpoint that comes back is seen at the next
	// check.
	reconnect := backoff.DefaultConfig
	reconnect.MaxDelay = opts.InfoInterval
	reconnect.BaseDelay = min(reconnect.BaseDelay, opts.InfoInterval)
	s.dialOptions = append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: reconnect, MinConnectTimeout: opts.InfoTimeout}),
	}, opts.DialOptions...)

	if err := m.register(reg, s); err != nil {
		return nil, err
	}
	return s, nil
}

// Run discovers endpoints and checks their health until ctx is done, then
// closes every connection. Call it once.
func (s *Set) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var wg sync.WaitGroup
	if s.files != nil {
		wg.Go(func() { s.files.run(ctx) })
	}
	wg.Go(func() { s.discoverLoop(ctx) })
	s.checkLoop(ctx)
	wg.Wait()
	s.closeAll()
	return nil
}

// Ready reports whether the first round of discovery and Info calls has
// completed, whatever its outcome; the querier's /-/ready uses it.
func (s *Set) Ready() bool { return s.ready.Load() }

// HealthyStores returns the endpoints whose last Info call succeeded and
// that serve the Store API, ordered by address.
func (s *Set) HealthyStores() []*Endpoint { return s.endpointsWhere((*Endpoint).servesStoreAPI) }

// HealthyQueryAPIs returns the healthy endpoints that serve the Query API,
// ordered by address: the remote engines of distributed execution.
func (s *Set) HealthyQueryAPIs() []*Endpoint { return s.endpointsWhere((*Endpoint).ServesQueryAPI) }

func (s *Set) endpointsWhere(keep func(*Endpoint) bool) []*Endpoint {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var eps []*Endpoint
	for _, e := range s.endpoints {
		if keep(e) {
			eps = append(eps, e)
		}
	}
	slices.SortFunc(eps, func(a, b *Endpoint) int { return strings.Compare(a.addr, b.addr) })
	return eps
}

// Offering returns the endpoints that announced api in their last
// successful Info call, healthy or not (see Endpoint.Healthy), ordered by
// address.
func (s *Set) Offering(api API) []*Endpoint {
	return s.endpointsWhere(func(e *Endpoint) bool { return e.offers(api) })
}

// Status returns the status of every endpoint, ordered by address.
func (s *Set) Status() []EndpointStatus {
	s.mu.RLock()
	defer s.mu.RUnlock()
	statuses := make([]EndpointStatus, 0, len(s.endpoints))
	for _, e := range s.endpoints {
		statuses = append(statuses, e.status())
	}
	slices.SortFunc(statuses, func(a, b EndpointStatus) int { return strings.Compare(a.Name, b.Name) })
	return statuses
}

// configured returns the static addresses and those from file SD.
func (s *Set) configured() []Address {
	if s.files == nil {
		return s.static
	}
	return append(slices.Clip(s.static), s.files.Addresses()...)
}

// discoverLoop resolves the configured addresses every DNS interval, and at
// once when file SD changes them.
func (s *Set) discoverLoop(ctx context.Context) {
	var filesChanged <-chan struct{}
	if s.files != nil {
		filesChanged = s.files.changed
	}
	retry := newRetryBackoff(s.opts.DNSInterval)
	for {
		targets, answered := s.resolver.resolve(ctx, s.configured())
		if ctx.Err() != nil {
			return
		}
		s.publish(targets)

		wait := s.opts.DNSInterval
		if answered {
			retry.reset()
		} else {
			wait = retry.wait()
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		case <-filesChanged:
			timer.Stop()
		}
	}
}

func (s *Set) publish(targets []string) {
	// The discovery loop is the only sender, so after draining there is room.
	select {
	case <-s.discovered:
	default:
	}
	s.discovered <- targets
}

// checkLoop applies discovered targets and calls Info on the endpoints.
func (s *Set) checkLoop(ctx context.Context) {
	ticker := time.NewTicker(s.opts.InfoInterval)
	defer ticker.Stop()

	var targets []string
	for {
		select {
		case <-ctx.Done():
			return
		case targets = <-s.discovered:
			// New endpoints are checked at once, so that pods that just
			// appeared in DNS are queried without waiting for the tick.
			s.checkInfo(ctx, s.reconcile(targets, time.Now()))
			s.ready.Store(true)
		case <-ticker.C:
			if !s.Ready() {
				continue
			}
			now := time.Now()
			// Reconciling here too re-creates endpoints dropped for being
			// unhealthy too long while they are still discovered.
			s.reconcile(targets, now)
			s.checkInfo(ctx, s.all())
			s.dropUnhealthy(time.Now())
			s.closeRetired(time.Now())
		}
	}
}

// reconcile makes the endpoints match targets and returns the new ones.
func (s *Set) reconcile(targets []string, now time.Time) []*Endpoint {
	s.mu.Lock()
	defer s.mu.Unlock()

	wanted := make(map[string]bool, len(targets))
	var added []*Endpoint
	for _, addr := range targets {
		wanted[addr] = true
		if _, ok := s.endpoints[addr]; ok {
			continue
		}
		e, err := newEndpoint(addr, now, s.dialOptions...)
		if err != nil {
			s.logger.Error("Cannot add endpoint", "address", addr, "err", err)
			continue
		}
		s.logger.Info("Adding endpoint", "address", addr)
		s.endpoints[addr] = e
		added = append(added, e)
	}
	for addr, e := range s.endpoints {
		if wanted[addr] {
			continue
		}
		s.logger.Info("Removing endpoint that left discovery", "address", addr)
		delete(s.endpoints, addr)
		s.retiring = append(s.retiring, retiringConn{endpoint: e, closeAt: now.Add(s.opts.CloseGrace)})
	}
	return added
}

func (s *Set) all() []*Endpoint {
	s.mu.RLock()
	defer s.mu.RUnlock()
	eps := make([]*Endpoint, 0, len(s.endpoints))
	for _, e := range s.endpoints {
		eps = append(eps, e)
	}
	return eps
}

// checkInfo calls Info on the endpoints concurrently and waits for all, at
// most the Info timeout.
func (s *Set) checkInfo(ctx context.Context, eps []*Endpoint) {
	observe := func(d time.Duration) { s.metrics.infoDuration.Observe(d.Seconds()) }
	var wg sync.WaitGroup
	for _, e := range eps {
		wg.Go(func() {
			wasHealthy := e.Healthy()
			e.checkInfo(ctx, s.opts.InfoTimeout, observe)
			if healthy := e.Healthy(); healthy != wasHealthy && ctx.Err() == nil {
				if healthy {
					s.logger.Info("Endpoint is healthy", "address", e.addr, "component", e.ComponentType())
				} else {
					s.logger.Warn("Endpoint is unhealthy", "address", e.addr, "err", e.status().LastError)
				}
			}
		})
	}
	wg.Wait()
}

// dropUnhealthy drops the endpoints that have been unhealthy for longer than
// the unhealthy timeout, forgetting what they said about themselves. Those
// still discovered come back, fresh, at the next check.
func (s *Set) dropUnhealthy(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for addr, e := range s.endpoints {
		if e.unhealthyFor(now) < s.opts.UnhealthyTimeout {
			continue
		}
		s.logger.Info("Dropping endpoint unhealthy for longer than the unhealthy timeout", "address", addr, "timeout", s.opts.UnhealthyTimeout)
		delete(s.endpoints, addr)
		// Nothing queries an unhealthy endpoint, so no grace is needed.
		s.closeEndpoint(e)
	}
}

func (s *Set) closeRetired(now time.Time) {
	kept := s.retiring[:0]
	for _, r := range s.retiring {
		if now.Before(r.closeAt) {
			kept = append(kept, r)
			continue
		}
		s.closeEndpoint(r.endpoint)
	}
	clear(s.retiring[len(kept):])
	s.retiring = kept
}

func (s *Set) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for addr, e := range s.endpoints {
		delete(s.endpoints, addr)
		s.closeEndpoint(e)
	}
	for _, r := range s.retiring {
		s.closeEndpoint(r.endpoint)
	}
	s.retiring = nil
}

func (s *Set) closeEndpoint(e *Endpoint) {
	if err := e.conn.Close(); err != nil {
		s.logger.Debug("Closing endpoint connection", "address", e.addr, "err", err)
	}
}
