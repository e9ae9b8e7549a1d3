// Package discovery finds the Store API endpoints a querier fans out to and
// tracks which of them are healthy.
//
// Addresses come from the command line and from file SD files, in Thanos's
// syntax: host:port, or one of the DNS forms dns+host:port,
// dnsdualstack+host:port, dnssrv+_grpc._tcp.name and dnssrvnoa+_grpc._tcp.name.
// DNS forms are re-resolved periodically. Every resolved address gets one gRPC
// connection whose thanos.info.Info service is polled; the Set hands the
// healthy ones that serve the Store API to the query layer and reports all of
// them on /api/v1/stores.
package discovery
