package store

import (
	"fmt"

	"github.com/thanos-io/thanos/pkg/store/storepb"
	"google.golang.org/grpc/encoding"
	// gRPC's own "proto" codec registers itself in its init; importing it
	// here makes that init run before ours, so ours is the one that stays.
	_ "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
)

// Codec is the gRPC codec for the "proto" content subtype.
//
// storepb messages are gogo-generated; their Unmarshal keeps label strings
// and chunk bytes pointing into the buffer it was given. gRPC's default codec
// hands that buffer back to a pool once Unmarshal returns, so decoded labels
// would change under their owner as later messages reuse the memory. Codec
// therefore decodes from a private copy of every message that is never
// recycled: the garbage collector frees it once nothing points into it.
// Series responses, most of what a querier receives, are decoded by a
// decoder of our own (unmarshalSeriesResponse), which points into that copy
// alike but allocates far less.
type Codec struct {
	// frames holds the buffers large messages are encoded into; nil is
	// gRPC's default pool.
	frames mem.BufferPool
}

// gogoMessage is what gogo's generated marshalers and unmarshalers provide.
type gogoMessage interface {
	Size() int
	MarshalToSizedBuffer([]byte) (int, error)
	Unmarshal([]byte) error
}

func init() {
	// Registered once, for every gRPC server and client in the process: the
	// sidecar and the querier both import this package.
	encoding.RegisterCodecV2(Codec{frames: &framePool{}})
}

// Name implements encoding.CodecV2; "proto" replaces gRPC's own codec.
func (Codec) Name() string { return "proto" }

// Marshal implements encoding.CodecV2.
func (c Codec) Marshal(v any) (mem.BufferSlice, error) {
	switch m := v.(type) {
	case gogoMessage:
		pool := c.frames
		if pool == nil {
			pool = mem.DefaultBufferPool()
		}
		return marshalGogo(m, pool)
	case proto.Message:
		buf, err := proto.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("marshal %T: %w", v, err)
		}
		return mem.BufferSlice{mem.SliceBuffer(buf)}, nil
	case protoadapt.MessageV1:
		buf, err := proto.Marshal(protoadapt.MessageV2Of(m))
		if err != nil {
			return nil, fmt.Errorf("marshal %T: %w", v, err)
		}
		return mem.BufferSlice{mem.SliceBuffer(buf)}, nil
	}
	return nil, fmt.Errorf("marshal: %T is not a protobuf message", v)
}

// marshalGogo encodes m. A large message, such as a frame of series, goes
// into a buffer of pool, which gRPC returns to the pool once it has written
// the message: a sidecar sends about as many bytes as it reads, and
// allocating each frame anew was a quarter of what it allocated, paid for
// in the collector's CPU on the query's path.
func marshalGogo(m gogoMessage, pool mem.BufferPool) (mem.BufferSlice, error) {
	size := m.Size()
	if mem.IsBelowBufferPoolingThreshold(size) {
		buf := make([]byte, size)
		n, err := m.MarshalToSizedBuffer(buf)
		if err != nil {
			return nil, fmt.Errorf("marshal %T: %w", m, err)
		}
		return mem.BufferSlice{mem.SliceBuffer(buf[size-n:])}, nil
	}
	buf := pool.Get(size)
	n, err := m.MarshalToSizedBuffer(*buf)
	if err != nil {
		pool.Put(buf)
		return nil, fmt.Errorf("marshal %T: %w", m, err)
	}
	if n != size {
		// Written from the end, shorter than Size said: the pooled buffer
		// must keep its length, so the message leaves in a copy.
		out := append([]byte(nil), (*buf)[size-n:]...)
		pool.Put(buf)
		return mem.BufferSlice{mem.SliceBuffer(out)}, nil
	}
	return mem.BufferSlice{mem.NewBuffer(buf, pool)}, nil
}

// Unmarshal implements encoding.CodecV2. data is copied into memory that
// belongs to the decoded message from then on.
func (Codec) Unmarshal(data mem.BufferSlice, v any) error {
	buf := data.Materialize()
	switch m := v.(type) {
	case *storepb.SeriesResponse:
		if err := unmarshalSeriesResponse(buf, m); err != nil {
			return fmt.Errorf("unmarshal %T: %w", v, err)
		}
		return nil
	case gogoMessage:
		if err := m.Unmarshal(buf); err != nil {
			return fmt.Errorf("unmarshal %T: %w", v, err)
		}
		return nil
	case proto.Message:
		if err := proto.Unmarshal(buf, m); err != nil {
			return fmt.Errorf("unmarshal %T: %w", v, err)
		}
		return nil
	case protoadapt.MessageV1:
		if err := proto.Unmarshal(buf, protoadapt.MessageV2Of(m)); err != nil {
			return fmt.Errorf("unmarshal %T: %w", v, err)
		}
		return nil
	}
	return fmt.Errorf("unmarshal: %T is not a protobuf message", v)
}
