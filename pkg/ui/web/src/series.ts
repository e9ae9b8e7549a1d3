// Result shapes of /api/v1/query and /api/v1/query_range, and how a series
// is named on screen.

export type Metric = Record<string, string>;
export type SamplePair = [number, string];

export interface Histogram {
  count: string;
  sum: string;
}

export interface InstantSample {
  metric: Metric;
  value?: SamplePair;
  histogram?: [number, Histogram];
}

export interface RangeSeries {
  metric: Metric;
  values?: SamplePair[];
  histograms?: [number, Histogram][];
}

export type QueryData =
  | { resultType: 'vector'; result: InstantSample[] }
  | { resultType: 'matrix'; result: RangeSeries[] }
  | { resultType: 'scalar'; result: SamplePair }
  | { resultType: 'string'; result: SamplePair };

// seriesName writes a series as PromQL selects it: name{a="x", b="y"}.
export function seriesName(metric: Metric): string {
  const name = metric.__name__ ?? '';
  const labels = Object.keys(metric)
    .filter((k) => k !== '__name__')
    .sort()
    .map((k) => `${k}=${JSON.stringify(metric[k])}`);
  return labels.length ? `${name}{${labels.join(', ')}}` : name || '{}';
}
