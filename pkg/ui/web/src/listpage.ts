// The shell of the pages that show what each Prometheus tells of itself
// (alerts, rules, targets): a header with the Deduplication switch and
// Refresh, the API's error and warnings, and the page's own content. The
// switch is in the URL (?dedup=false), so a link reproduces the view.

import { Envelope, get } from './api';
import { clear, h } from './dom';
import { ServerFlags, serverFlags } from './flags';
import { ago, formatTime } from './time';

export interface View {
  // dedup is what the request asked: with it off, every replica's copy
  // comes back, and entries say which replica they came from.
  dedup: boolean;
  flags: ServerFlags;
}

export interface ListPage<T> {
  title: string;
  // path and params are the API call, without dedup.
  path: string;
  params?: Record<string, string>;
  // render turns a successful answer into the page's content.
  render: (data: T, view: View) => HTMLElement[];
}

export function messages(r: Envelope<unknown>): HTMLElement[] {
  const out: HTMLElement[] = [];
  if (r.status !== 'success') {
    out.push(h('div', { class: 'alert alert-error' }, h('strong', null, r.errorType ?? 'error'), ': ', r.error ?? ''));
  }
  for (const w of r.warnings ?? []) out.push(h('div', { class: 'alert alert-warning' }, w));
  return out;
}

export async function renderListPage<T>(app: HTMLElement, page: ListPage<T>): Promise<void> {
  const flags = await serverFlags();
  const dedup = h('input', { type: 'checkbox', class: 'dedup', checked: new URLSearchParams(location.search).get('dedup') !== 'false' });
  const body = h('div', { class: 'list-body' });
  const updated = h('span', { class: 'muted updated' });
  const refresh = async () => {
    const params = new URLSearchParams(page.params);
    params.set('dedup', String(dedup.checked));
    const r = await get<T>(page.path, params);
    clear(body);
    body.append(...messages(r));
    if (r.status === 'success' && r.data) body.append(...page.render(r.data, { dedup: dedup.checked, flags }));
    updated.textContent = `Updated ${formatTime(Date.now())} UTC`;
  };
  dedup.addEventListener('change', () => {
    const search = new URLSearchParams(location.search);
    if (dedup.checked) search.delete('dedup');
    else search.set('dedup', 'false');
    const q = search.toString();
    history.replaceState(null, '', location.pathname + (q ? '?' + q : ''));
    void refresh();
  });
  app.append(
    h('div', { class: 'page-header' },
      h('h1', null, page.title),
      h('label', { class: 'check', title: 'Merge what the replicas of an HA pair share' }, dedup, ' Deduplication'),
      h('button', { class: 'btn refresh', type: 'button', onclick: () => void refresh() }, 'Refresh'),
      updated),
    body,
  );
  await refresh();
}

// section is a collapsible block with a header line, open by default;
// attrs are its element's (class is added to "section").
export function section(attrs: Record<string, string>, header: (HTMLElement | string | null)[], ...content: HTMLElement[]): HTMLElement {
  return h('details', { ...attrs, class: 'section ' + (attrs.class ?? ''), open: true }, h('summary', null, ...header), ...content);
}

// when says how long ago an RFC 3339 time was, "never" for the zero time.
export function when(rfc3339: string | undefined): HTMLElement {
  const ms = rfc3339 ? Date.parse(rfc3339) : NaN;
  if (Number.isNaN(ms) || ms <= 0) return h('span', { class: 'when never' }, 'never');
  return h('span', { class: 'when', title: formatTime(ms) + ' UTC' }, ago(ms));
}

// seconds writes a duration given in seconds, as Prometheus's UI does.
export function seconds(s: number | undefined): string {
  if (!s) return '0s';
  if (s < 1e-3) return `${(s * 1e6).toFixed(0)}µs`;
  if (s < 1) return `${(s * 1e3).toFixed(1)}ms`;
  return `${s.toFixed(3)}s`;
}
