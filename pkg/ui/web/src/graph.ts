// The Graph tab: a range query's series drawn with uPlot, as lines or
// stacked areas, with a live legend that shows each series' value under the
// cursor.

import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { h } from './dom';
import { RangeSeries, seriesName } from './series';
import { formatTime } from './time';

const palette = [
  '#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2',
  '#7f7f7f', '#bcbd22', '#17becf', '#393b79', '#637939', '#8c6d31', '#843c39',
];

export interface GraphRequest {
  start: number; // seconds
  end: number;
  step: number;
  stacked: boolean;
}

export interface Graph {
  el: HTMLElement;
  destroy(): void;
}

// align puts every series on the query's grid start + k*step (the points a
// range query returns), with null where a series has no point, so gaps stay
// gaps instead of being joined.
function align(series: RangeSeries[], req: GraphRequest): { xs: number[]; ys: (number | null)[][] } {
  const n = Math.floor((req.end - req.start) / req.step) + 1;
  const xs = Array.from({ length: n }, (_, i) => req.start + i * req.step);
  const ys = series.map((s) => {
    const out: (number | null)[] = new Array(n).fill(null);
    for (const [t, v] of s.values ?? []) {
      const i = Math.round((t - req.start) / req.step);
      if (i >= 0 && i < n) out[i] = parseFloat(v);
    }
    return out;
  });
  return { xs, ys };
}

// stack sums the series point by point; a missing point adds nothing.
function stack(ys: (number | null)[][]): (number | null)[][] {
  const sums: number[] = ys.length ? new Array(ys[0].length).fill(0) : [];
  return ys.map((y) =>
    y.map((v, i) => {
      if (v === null) return null;
      sums[i] += v;
      return sums[i];
    }),
  );
}

// timeTicks labels the time axis in UTC and 24-hour time, as the inputs
// are written: seconds only when ticks are less than a minute apart, the
// date when the range spans more than a day.
function timeTicks(u: uPlot, splits: number[], _axis: number, _space: number, incr: number): string[] {
  const span = (u.scales.x.max ?? 0) - (u.scales.x.min ?? 0);
  return splits.map((s) => {
    const t = formatTime(s * 1000); // YYYY-MM-DD HH:MM:SS
    if (incr >= 86400) return t.slice(5, 10);
    if (span > 86400) return t.slice(5, 16);
    return incr < 60 ? t.slice(11) : t.slice(11, 16);
  });
}

function fmtValue(v: number | null | undefined): string {
  if (v === null || v === undefined) return '–';
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(3);
  return String(Math.round(v * 1e4) / 1e4);
}

export function renderGraph(parent: HTMLElement, series: RangeSeries[], req: GraphRequest): Graph {
  const el = h('div', { class: 'graph' });
  parent.append(el);
  const { xs, ys } = align(series, req);
  const drawn = req.stacked ? stack(ys) : ys;
  const opts: uPlot.Options = {
    width: Math.max(300, el.clientWidth || parent.clientWidth || 800),
    height: 360,
    // The time inputs are UTC; the axis and legend agree with them.
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC'),
    cursor: { focus: { prox: 16 } },
    focus: { alpha: 0.3 },
    legend: { live: true },
    scales: { x: { time: true } },
    axes: [{ values: timeTicks }, { size: 70, values: (_u, vals) => vals.map((v) => fmtValue(v)) }],
    series: [
      { label: 'Time (UTC)', value: '{YYYY}-{MM}-{DD} {HH}:{mm}:{ss}' },
      ...series.map((s, i) => {
        const color = palette[i % palette.length];
        return {
          label: seriesName(s.metric),
          stroke: color,
          width: 1.5,
          fill: req.stacked ? color + '66' : undefined,
          spanGaps: false,
          points: { show: false },
          // The legend shows the series' own value, not the stacked sum.
          value: (_u: uPlot, _v: number | null, _si: number, di: number | null) =>
            di === null ? '–' : fmtValue(ys[i][di]),
        };
      }),
    ],
    // Stacked areas fill the band between a series and the one below it;
    // the first fills down to zero.
    bands: req.stacked ? series.slice(1).map((_, i) => ({ series: [i + 2, i + 1] as [number, number] })) : [],
  };
  const plot = new uPlot(opts, [xs, ...drawn] as uPlot.AlignedData, el);
  const onResize = () => plot.setSize({ width: Math.max(300, el.clientWidth), height: 360 });
  window.addEventListener('resize', onResize);
  return {
    el,
    destroy() {
      window.removeEventListener('resize', onResize);
      plot.destroy();
      el.remove();
    },
  };
}
