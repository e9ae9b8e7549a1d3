package store

// BenchSeries gives the external tests the series of BenchmarkCodec.
var BenchSeries = benchSeries
