// The Table tab: an instant query's result, one row per series.

import { h } from './dom';
import { Histogram, Metric, QueryData, SamplePair } from './series';
import { formatTime } from './time';

// Rendering more rows than this makes the page unusable; the count above
// the table still tells the truth.
const maxRows = 10_000;

function labelsCell(metric: Metric): HTMLElement {
  const cell = h('td', { class: 'series-name' });
  const name = metric.__name__;
  if (name) cell.append(h('span', { class: 'metric-name' }, name));
  const keys = Object.keys(metric).filter((k) => k !== '__name__').sort();
  cell.append('{');
  keys.forEach((k, i) => {
    cell.append(
      h('span', { class: 'label-name' }, k),
      '="',
      h('span', { class: 'label-value' }, metric[k]),
      '"',
      i < keys.length - 1 ? ', ' : '',
    );
  });
  cell.append('}');
  return cell;
}

const histText = (h: Histogram) => `count: ${h.count}, sum: ${h.sum}`;
const pairText = ([t, v]: SamplePair) => `${v} @${t}`;

// resultCount is what the footer reports: series for vectors and matrices,
// one for scalars and strings.
export function resultCount(data: QueryData): number {
  return data.resultType === 'vector' || data.resultType === 'matrix' ? data.result.length : 1;
}

export function renderTable(data: QueryData): HTMLElement {
  const body = h('tbody');
  const row = (name: HTMLElement, value: string) =>
    body.append(h('tr', null, name, h('td', { class: 'value' }, value)));
  switch (data.resultType) {
    case 'vector':
      for (const s of data.result.slice(0, maxRows)) {
        row(labelsCell(s.metric), s.value ? s.value[1] : s.histogram ? histText(s.histogram[1]) : '');
      }
      break;
    case 'matrix':
      for (const s of data.result.slice(0, maxRows)) {
        const vals = (s.values ?? []).map(pairText);
        const hists = (s.histograms ?? []).map(([t, hg]) => `${histText(hg)} @${t}`);
        row(labelsCell(s.metric), [...vals, ...hists].join('\n'));
      }
      break;
    case 'scalar':
    case 'string':
      row(h('td', { class: 'series-name' }, `${data.resultType} @${formatTime(data.result[0] * 1000)}`), data.result[1]);
      break;
  }
  const table = h('table', { class: 'result-table' }, body);
  if (!body.firstChild) {
    return h('div', { class: 'empty' }, 'Empty query result');
  }
  const n = resultCount(data);
  return h(
    'div',
    null,
    table,
    n > maxRows ? h('div', { class: 'note' }, `Showing ${maxRows} of ${n} series.`) : null,
  );
}
