package store

import "sync"

// framePool is a mem.BufferPool for the buffers that marshalGogo encodes
// messages into, in the tiers of gRPC's default pool, whose buffers are not
// cleared when they are handed out: the encoder writes every byte of what
// it is given. gRPC's pool clears the whole capacity of every buffer it
// gives, and a frame of a few tens of KiB comes from its 1 MiB tier, so a
// sidecar cleared many times the bytes it sent.
type framePool struct {
	tiers [frameTiers]sync.Pool
}

// frameTiers is how many capacities framePool keeps (see frameTier).
const frameTiers = 5

// Get returns a buffer of length n, whose bytes may be anything.
func (p *framePool) Get(n int) *[]byte {
	i, capacity := frameTier(n)
	if i < 0 {
		b := make([]byte, n)
		return &b
	}
	if b, ok := p.tiers[i].Get().(*[]byte); ok {
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n, capacity)
	return &b
}

// Put keeps b for a later Get if its capacity is a tier's.
func (p *framePool) Put(b *[]byte) {
	if i, capacity := frameTier(cap(*b)); i >= 0 && capacity == cap(*b) {
		p.tiers[i].Put(b)
	}
}

// frameTier is the index and capacity of the smallest of gRPC's default
// tiers that holds n bytes; -1 if none does.
func frameTier(n int) (index, capacity int) {
	switch {
	case n <= 256:
		return 0, 256
	case n <= 4<<10:
		return 1, 4 << 10
	case n <= 16<<10:
		return 2, 16 << 10
	case n <= 32<<10:
		return 3, 32 << 10
	case n <= 1<<20:
		return 4, 1 << 20
	}
	return -1, 0
}
