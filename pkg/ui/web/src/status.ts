// The Status page: the query's build information and command-line flags.

import { call, Envelope } from './api';
import { h } from './dom';

function failed(r: Envelope<unknown>): HTMLElement {
  return h('div', { class: 'alert alert-error' }, h('strong', null, r.errorType ?? 'error'), ': ', r.error ?? '');
}

function keyValues(cls: string, title: string, r: Envelope<Record<string, string>>, filter = false): HTMLElement {
  const section = h('section', { class: cls }, h('h2', null, title));
  if (r.status !== 'success' || !r.data) {
    section.append(failed(r));
    return section;
  }
  const data = r.data;
  const rows = Object.keys(data).sort().map((k) =>
    h('tr', { 'data-key': k }, h('th', null, k), h('td', null, String(data[k]))));
  if (filter) {
    section.append(h('input', { class: 'input filter', type: 'search', placeholder: 'Filter flags', oninput: (e: Event) => {
      const q = (e.target as HTMLInputElement).value.toLowerCase();
      for (const row of rows) row.hidden = !row.textContent!.toLowerCase().includes(q);
    } }));
  }
  section.append(h('table', { class: 'data-table kv' }, h('tbody', null, ...rows)));
  return section;
}

export async function renderStatus(app: HTMLElement): Promise<void> {
  const [build, flags] = await Promise.all([
    call<Record<string, string>>('status/buildinfo'),
    call<Record<string, string>>('status/flags'),
  ]);
  app.append(
    h('div', { class: 'page-header' }, h('h1', null, 'Status')),
    keyValues('build-info', 'Build information', build),
    keyValues('flags', 'Command-line flags', flags, true),
    h('p', { class: 'muted' }, 'The UI bundles open-source packages: ',
      h('a', { href: 'static/licenses.txt' }, 'their licenses'), '.'),
  );
}
