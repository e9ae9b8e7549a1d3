// The Targets page, from /api/v1/targets: every Prometheus's active
// targets by scrape pool, with their health, last scrape and error
// (deduplicated unless the switch is off, when each target says which
// replica scrapes it).

import { h } from './dom';
import { LabelSet, labelBadges, replicaBadge, stateBadge } from './labels';
import { renderListPage, section, seconds, View, when } from './listpage';

interface Target {
  labels: LabelSet;
  scrapePool: string;
  scrapeUrl: string;
  lastError: string;
  lastScrape: string;
  lastScrapeDuration: number;
  health: string;
}

interface TargetDiscovery {
  activeTargets: Target[];
}

function targetRow(t: Target, view: View): HTMLElement {
  return h('tr', { class: 'target', 'data-health': t.health },
    h('td', { class: 'endpoint' }, h('a', { href: t.scrapeUrl }, t.scrapeUrl), ' ', replicaBadge(t.labels, view.flags.replicaLabels)),
    h('td', null, stateBadge(t.health)),
    h('td', { class: 'labels' }, labelBadges(t.labels, view.flags.replicaLabels)),
    h('td', { class: 'last-scrape' }, when(t.lastScrape)),
    h('td', { class: 'scrape-duration' }, seconds(t.lastScrapeDuration)),
    h('td', { class: 'last-error' }, t.lastError));
}

function renderTargets(data: TargetDiscovery, view: View): HTMLElement[] {
  const pools = new Map<string, Target[]>();
  for (const t of data.activeTargets) pools.set(t.scrapePool, [...(pools.get(t.scrapePool) ?? []), t]);
  if (!pools.size) return [h('div', { class: 'empty' }, 'No targets.')];
  return [...pools.keys()].sort().map((pool) => {
    const targets = pools.get(pool)!;
    const up = targets.filter((t) => t.health === 'up').length;
    return section({ class: 'scrape-pool', 'data-pool': pool },
      [h('span', { class: 'pool-name' }, pool), h('span', { class: 'muted up-count' }, ` ${up}/${targets.length} up`)],
      h('table', { class: 'data-table targets' },
        h('thead', null, h('tr', null, ...['Endpoint', 'Health', 'Labels', 'Last scrape', 'Scrape duration', 'Error'].map((c) => h('th', null, c)))),
        h('tbody', null, ...targets.map((t) => targetRow(t, view)))));
  });
}

export function renderTargetsPage(app: HTMLElement): Promise<void> {
  return renderListPage<TargetDiscovery>(app, { title: 'Targets', path: 'targets', params: { state: 'active' }, render: renderTargets });
}
