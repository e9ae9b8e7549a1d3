// The Stores page: every Store API endpoint the query knows, grouped by
// component type, with its health as the query's last Info call saw it.

import { call, Envelope } from './api';
import { clear, h } from './dom';
import { labelBadges } from './labels';
import { ago, formatTime } from './time';

interface StoreStatus {
  name: string;
  lastCheck: string;
  lastError: string | null;
  labelSets: Record<string, string>[] | null;
  minTime: number;
  maxTime: number;
}

type Stores = Record<string, StoreStatus[]>;

// The query re-checks endpoints every few seconds; the page follows.
const refreshEvery = 5_000;

// Endpoints that hold all of time announce the extreme int64 values, which
// are far outside the range a Date can show.
const maxDateMs = 8.64e15;

function timeCell(ms: number): string {
  if (ms <= -maxDateMs) return '−∞';
  if (ms >= maxDateMs) return '+∞';
  return formatTime(ms);
}

function labelSets(sets: Record<string, string>[] | null): HTMLElement {
  return h('td', { class: 'label-sets' }, ...(sets ?? []).map((set) => labelBadges(set)));
}

function storeRow(s: StoreStatus): HTMLElement {
  const up = s.lastError === null;
  const checked = Date.parse(s.lastCheck);
  return h('tr', { class: 'store ' + (up ? 'up' : 'down'), 'data-endpoint': s.name },
    h('td', { class: 'endpoint' }, s.name),
    h('td', null, h('span', { class: 'health badge ' + (up ? 'up' : 'down') }, up ? 'Up' : 'Down')),
    labelSets(s.labelSets),
    h('td', { class: 'min-time' }, timeCell(s.minTime)),
    h('td', { class: 'max-time' }, timeCell(s.maxTime)),
    h('td', { class: 'last-check', title: Number.isNaN(checked) ? '' : formatTime(checked) + ' UTC' },
      Number.isNaN(checked) || checked <= 0 ? 'never' : ago(checked)),
    h('td', { class: 'last-error' }, s.lastError ?? ''),
  );
}

function storesTable(type: string, stores: StoreStatus[]): HTMLElement {
  const sorted = [...stores].sort((a, b) => a.name.localeCompare(b.name));
  const up = sorted.filter((s) => s.lastError === null).length;
  return h('section', { class: 'store-group', 'data-type': type },
    h('h2', null, type || 'unknown', h('span', { class: 'muted' }, ` ${up}/${sorted.length} up`)),
    h('table', { class: 'data-table' },
      h('thead', null, h('tr', null,
        ...['Endpoint', 'Health', 'Announced label sets', 'Min time (UTC)', 'Max time (UTC)', 'Last check', 'Last error']
          .map((c) => h('th', null, c)))),
      h('tbody', null, ...sorted.map(storeRow))));
}

function render(body: HTMLElement, r: Envelope<Stores>): void {
  clear(body);
  if (r.status !== 'success' || !r.data) {
    body.append(h('div', { class: 'alert alert-error' }, h('strong', null, r.errorType ?? 'error'), ': ', r.error ?? ''));
    return;
  }
  const types = Object.keys(r.data).sort();
  if (!types.length) {
    body.append(h('div', { class: 'empty' }, 'No endpoints are configured or discovered.'));
  }
  for (const t of types) body.append(storesTable(t, r.data[t]));
}

export function renderStores(app: HTMLElement): void {
  const body = h('div', { class: 'stores' });
  const updated = h('span', { class: 'muted updated' });
  let timer: number | undefined;
  const refresh = async () => {
    window.clearTimeout(timer);
    render(body, await call<Stores>('stores'));
    updated.textContent = `Updated ${formatTime(Date.now())} UTC`;
    timer = window.setTimeout(refresh, refreshEvery);
  };
  app.append(
    h('div', { class: 'page-header' },
      h('h1', null, 'Stores'),
      h('button', { class: 'btn refresh', type: 'button', onclick: () => void refresh() }, 'Refresh'),
      updated),
    body,
  );
  void refresh();
}
