// Package targetmetapb is the wire format of the target metadata API, by
// which Tandem's sidecars and queries serve Prometheus's
// /api/v1/targets/metadata: which metrics each scrape target exposes, with
// their type, help and unit. Thanos has no such API. The messages are
// protobuf, written here with protowire and read with internal/pbwire
// (through pkg/store's gRPC codec, which takes any message that marshals
// itself):
//
//	service TargetMetadata {
//	  rpc TargetMetadata(TargetMetadataRequest) returns (stream TargetMetadataResponse);
//	}
//	message TargetMetadataRequest {
//	  string metric = 1;        // empty: every metric
//	  string match_target = 2;  // a series selector on the targets' labels; empty: every target
//	  int64 limit = 3;          // entries at most; 0: no limit
//	  int32 partial_response_strategy = 4;  // thanos.PartialResponseStrategy
//	}
//	message TargetMetadataResponse {
//	  repeated Entry entries = 1;
//	  string warning = 2;
//	}
//	message Entry {
//	  repeated Label target = 1;  // the target's labels, external labels included
//	  string metric = 2;
//	  string type = 3;
//	  string help = 4;
//	  string unit = 5;
//	}
//	message Label { string name = 1; string value = 2; }
package targetmetapb

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/thanos/pkg/store/storepb"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/tandem-metrics/tandem/internal/pbwire"
)

// APIHeader is the Info response header by which an endpoint says it
// serves the target metadata API; APIHeaderValue is its value.
const (
	APIHeader      = "tandem-target-metadata"
	APIHeaderValue = "v1"
)

// Request asks for target metadata.
type Request struct {
	Metric                  string
	MatchTarget             string
	Limit                   int64
	PartialResponseStrategy storepb.PartialResponseStrategy
}

// Entry is one metric of one target, as Prometheus answers
// /api/v1/targets/metadata.
type Entry struct {
	Target labels.Labels `json:"target"`
	Metric string        `json:"metric,omitempty"`
	Type   string        `json:"type"`
	Help   string        `json:"help"`
	Unit   string        `json:"unit"`
}

// Response is one frame of an answer: entries, or a warning.
type Response struct {
	Entries []Entry
	Warning string
}

// GetWarning returns the frame's warning, empty for entries.
func (r *Response) GetWarning() string { return r.Warning }

// The field numbers of the messages, as in the package comment.
const (
	requestMetric      = 1
	requestMatchTarget = 2
	requestLimit       = 3
	requestStrategy    = 4

	responseEntries = 1
	responseWarning = 2

	entryTarget = 1
	entryMetric = 2
	entryType   = 3
	entryHelp   = 4
	entryUnit   = 5

	labelName  = 1
	labelValue = 2
)

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func (r *Request) marshal() []byte {
	b := appendString(nil, requestMetric, r.Metric)
	b = appendString(b, requestMatchTarget, r.MatchTarget)
	if r.Limit != 0 {
		b = protowire.AppendTag(b, requestLimit, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(r.Limit))
	}
	if r.PartialResponseStrategy != 0 {
		b = protowire.AppendTag(b, requestStrategy, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(r.PartialResponseStrategy))
	}
	return b
}

func (e *Entry) marshal(b []byte) []byte {
	var inner []byte
	e.Target.Range(func(l labels.Label) {
		var lb []byte
		lb = appendString(lb, labelName, l.Name)
		lb = appendString(lb, labelValue, l.Value)
		inner = protowire.AppendTag(inner, entryTarget, protowire.BytesType)
		inner = protowire.AppendBytes(inner, lb)
	})
	inner = appendString(inner, entryMetric, e.Metric)
	inner = appendString(inner, entryType, e.Type)
	inner = appendString(inner, entryHelp, e.Help)
	inner = appendString(inner, entryUnit, e.Unit)
	b = protowire.AppendTag(b, responseEntries, protowire.BytesType)
	return protowire.AppendBytes(b, inner)
}

func (r *Response) marshal() []byte {
	var b []byte
	for i := range r.Entries {
		b = r.Entries[i].marshal(b)
	}
	return appendString(b, responseWarning, r.Warning)
}

// fields calls field for each length-delimited or varint field of a
// message, with its value: the bytes of the one, the number of the other.
func fields(b []byte, field func(num int, bytes []byte, varint uint64) error) error {
	return pbwire.Fields(b, func(num, wire int, varint uint64, bytes []byte) error {
		if wire != pbwire.Bytes && wire != pbwire.Varint {
			return nil
		}
		return field(num, bytes, varint)
	})
}

func (r *Request) unmarshal(b []byte) error {
	*r = Request{}
	return fields(b, func(num int, bytes []byte, varint uint64) error {
		switch num {
		case requestMetric:
			r.Metric = string(bytes)
		case requestMatchTarget:
			r.MatchTarget = string(bytes)
		case requestLimit:
			r.Limit = int64(varint)
		case requestStrategy:
			r.PartialResponseStrategy = storepb.PartialResponseStrategy(varint)
		}
		return nil
	})
}

func (e *Entry) unmarshal(b []byte) error {
	builder := labels.NewScratchBuilder(8)
	err := fields(b, func(num int, bytes []byte, _ uint64) error {
		switch num {
		case entryTarget:
			var name, value string
			if err := fields(bytes, func(num int, bytes []byte, _ uint64) error {
				switch num {
				case labelName:
					name = string(bytes)
				case labelValue:
					value = string(bytes)
				}
				return nil
			}); err != nil {
				return err
			}
			builder.Add(name, value)
		case entryMetric:
			e.Metric = string(bytes)
		case entryType:
			e.Type = string(bytes)
		case entryHelp:
			e.Help = string(bytes)
		case entryUnit:
			e.Unit = string(bytes)
		}
		return nil
	})
	builder.Sort()
	e.Target = builder.Labels()
	return err
}

func (r *Response) unmarshal(b []byte) error {
	*r = Response{}
	return fields(b, func(num int, bytes []byte, _ uint64) error {
		switch num {
		case responseEntries:
			var e Entry
			if err := e.unmarshal(bytes); err != nil {
				return fmt.Errorf("entry: %w", err)
			}
			r.Entries = append(r.Entries, e)
		case responseWarning:
			r.Warning = string(bytes)
		}
		return nil
	})
}

// The methods by which the gRPC codec (pkg/store's) writes and reads the
// messages.

// Size returns the size of the encoded request.
func (r *Request) Size() int { return len(r.marshal()) }

// MarshalToSizedBuffer writes the request at the end of b.
func (r *Request) MarshalToSizedBuffer(b []byte) (int, error) { return copyToEnd(b, r.marshal()) }

// Unmarshal reads a request.
func (r *Request) Unmarshal(b []byte) error { return r.unmarshal(b) }

// Size returns the size of the encoded frame.
func (r *Response) Size() int { return len(r.marshal()) }

// MarshalToSizedBuffer writes the frame at the end of b.
func (r *Response) MarshalToSizedBuffer(b []byte) (int, error) { return copyToEnd(b, r.marshal()) }

// Unmarshal reads a frame.
func (r *Response) Unmarshal(b []byte) error { return r.unmarshal(b) }

func copyToEnd(b, msg []byte) (int, error) {
	if len(msg) > len(b) {
		return 0, errors.New("buffer too small")
	}
	return copy(b[len(b)-len(msg):], msg), nil
}

// Server serves the target metadata API.
type Server interface {
	TargetMetadata(*Request, Stream) error
}

// Stream is the sending end of an answer.
type Stream interface {
	Send(*Response) error
	Context() context.Context
}

// ServiceName is the API's gRPC service.
const ServiceName = "tandem.TargetMetadata"

const method = "/" + ServiceName + "/TargetMetadata"

// Register adds srv to s.
func Register(s grpc.ServiceRegistrar, srv Server) {
	s.RegisterService(&grpc.ServiceDesc{
		ServiceName: ServiceName,
		HandlerType: (*Server)(nil),
		Streams: []grpc.StreamDesc{{
			StreamName:    "TargetMetadata",
			ServerStreams: true,
			Handler: func(srv any, stream grpc.ServerStream) error {
				req := &Request{}
				if err := stream.RecvMsg(req); err != nil {
					return err
				}
				return srv.(Server).TargetMetadata(req, serverStream{stream})
			},
		}},
		Metadata: "targetmetapb",
	}, srv)
}

type serverStream struct{ grpc.ServerStream }

func (s serverStream) Send(r *Response) error { return s.SendMsg(r) }

// ResponseStream is the receiving end of an answer.
type ResponseStream struct{ grpc.ClientStream }

// Recv returns the next frame, io.EOF at the end.
func (s ResponseStream) Recv() (*Response, error) {
	r := &Response{}
	if err := s.RecvMsg(r); err != nil {
		return nil, err
	}
	return r, nil
}

// Call asks the endpoint behind conn.
func Call(ctx context.Context, conn grpc.ClientConnInterface, req *Request) (*ResponseStream, error) {
	stream, err := conn.NewStream(ctx, &grpc.StreamDesc{StreamName: "TargetMetadata", ServerStreams: true}, method)
	if err != nil {
		return nil, err
	}
	if err := stream.SendMsg(req); err != nil {
		return nil, err
	}
	if err := stream.CloseSend(); err != nil {
		return nil, err
	}
	return &ResponseStream{stream}, nil
}
