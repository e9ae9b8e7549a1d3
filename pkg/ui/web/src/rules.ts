// The Alerts and Rules pages, from /api/v1/rules: the rule groups of every
// Prometheus the query reads, merged by the query (deduplicated unless the
// switch is off, when each rule says which replica it came from).

import { h } from './dom';
import { LabelSet, labelBadges, replicaBadge, stateBadge } from './labels';
import { renderListPage, section, seconds, View, when } from './listpage';
import { formatDuration } from './time';

interface AlertInstance {
  labels: LabelSet;
  annotations: LabelSet;
  state: string;
  activeAt?: string;
  value: string;
}

interface Rule {
  type: 'alerting' | 'recording';
  name: string;
  query: string;
  labels?: LabelSet;
  health: string;
  lastError?: string;
  evaluationTime: number;
  lastEvaluation: string;
  // Alerting rules only.
  state?: string;
  duration?: number;
  annotations?: LabelSet;
  alerts?: AlertInstance[];
}

interface RuleGroup {
  name: string;
  file: string;
  rules: Rule[];
  interval: number;
  evaluationTime: number;
  lastEvaluation: string;
}

interface RuleGroups {
  groups: RuleGroup[];
}

const alertStates = ['firing', 'pending', 'inactive'];

function groupHeader(g: RuleGroup): (HTMLElement | string)[] {
  return [
    h('span', { class: 'group-name' }, g.name),
    h('span', { class: 'muted file' }, ' ' + g.file),
    h('span', { class: 'muted' }, ` every ${formatDuration(g.interval * 1000)}, last evaluated `), when(g.lastEvaluation),
    h('span', { class: 'muted' }, ` in ${seconds(g.evaluationTime)}`),
  ];
}

function instancesTable(alerts: AlertInstance[]): HTMLElement {
  return h('table', { class: 'data-table instances' },
    h('thead', null, h('tr', null, ...['Labels', 'State', 'Active since', 'Value', 'Annotations'].map((c) => h('th', null, c)))),
    h('tbody', null, ...alerts.map((a) => h('tr', { class: 'instance', 'data-state': a.state },
      h('td', { class: 'labels' }, labelBadges(a.labels)),
      h('td', null, stateBadge(a.state)),
      h('td', { class: 'active-at' }, when(a.activeAt)),
      h('td', { class: 'value' }, a.value),
      h('td', null, annotationList(a.annotations)),
    ))));
}

function annotationList(a: LabelSet | undefined): HTMLElement {
  return h('dl', { class: 'annotations' }, ...Object.keys(a ?? {}).sort().flatMap((k) => [h('dt', null, k), h('dd', null, a![k])]));
}

function alertRule(r: Rule, view: View): HTMLElement {
  const alerts = r.alerts ?? [];
  return h('details', { class: 'alert-rule', 'data-name': r.name, 'data-state': r.state },
    h('summary', null,
      stateBadge(r.state ?? 'unknown'), ' ',
      h('span', { class: 'rule-name' }, r.name),
      h('span', { class: 'muted count' }, ` (${alerts.length} active)`), ' ',
      replicaBadge(r.labels, view.flags.replicaLabels)),
    h('div', { class: 'rule-body' },
      h('pre', { class: 'query' }, r.query),
      h('div', { class: 'muted' }, `for ${formatDuration((r.duration ?? 0) * 1000)}`),
      h('div', { class: 'rule-labels' }, labelBadges(r.labels)),
      annotationList(r.annotations),
      alerts.length ? instancesTable(alerts) : h('div', { class: 'empty' }, 'No active alerts.')));
}

function renderAlerts(data: RuleGroups, view: View): HTMLElement[] {
  const rules = data.groups.flatMap((g) => g.rules.filter((r) => r.type === 'alerting').map((r) => ({ g, r })));
  const shown = new Set(alertStates);
  const counts = h('div', { class: 'state-filter' });
  const list = h('div', { class: 'alert-groups' });
  const draw = () => {
    counts.replaceChildren(...alertStates.map((s) => h('label', { class: `check state-count ${s}`, 'data-state': s },
      h('input', { type: 'checkbox', checked: shown.has(s), onchange: (e: Event) => {
        if ((e.target as HTMLInputElement).checked) shown.add(s);
        else shown.delete(s);
        draw();
      } }),
      ` ${s[0].toUpperCase() + s.slice(1)} (${rules.filter(({ r }) => r.state === s).length})`)));
    list.replaceChildren(...data.groups.map((g) => {
      const own = rules.filter((x) => x.g === g && shown.has(x.r.state ?? ''));
      return own.length ? section({ class: 'rule-group', 'data-group': g.name }, groupHeader(g), ...own.map(({ r }) => alertRule(r, view))) : null;
    }).filter((x): x is HTMLElement => x !== null));
    if (!list.children.length) list.append(h('div', { class: 'empty' }, rules.length ? 'No alerts in the chosen states.' : 'No alerting rules.'));
  };
  draw();
  return [counts, list];
}

function ruleRow(r: Rule, view: View): HTMLElement {
  return h('tr', { class: 'rule', 'data-name': r.name, 'data-health': r.health },
    h('td', null,
      h('div', { class: 'rule-name' }, r.type === 'alerting' ? 'alert: ' : 'record: ', r.name, ' ', replicaBadge(r.labels, view.flags.replicaLabels)),
      h('pre', { class: 'query' }, r.query),
      labelBadges(r.labels, view.flags.replicaLabels)),
    h('td', null, stateBadge(r.health || 'unknown')),
    h('td', { class: 'last-evaluation' }, when(r.lastEvaluation)),
    h('td', { class: 'evaluation-time' }, seconds(r.evaluationTime)),
    h('td', { class: 'last-error' }, r.lastError ?? ''));
}

function renderRules(data: RuleGroups, view: View): HTMLElement[] {
  if (!data.groups.length) return [h('div', { class: 'empty' }, 'No rules.')];
  return data.groups.map((g) => section({ class: 'rule-group', 'data-group': g.name }, groupHeader(g),
    h('table', { class: 'data-table rules' },
      h('thead', null, h('tr', null, ...['Rule', 'Health', 'Last evaluation', 'Evaluation time', 'Error'].map((c) => h('th', null, c)))),
      h('tbody', null, ...g.rules.map((r) => ruleRow(r, view))))));
}

export function renderAlertsPage(app: HTMLElement): Promise<void> {
  return renderListPage<RuleGroups>(app, { title: 'Alerts', path: 'rules', params: { type: 'alert' }, render: renderAlerts });
}

export function renderRulesPage(app: HTMLElement): Promise<void> {
  return renderListPage<RuleGroups>(app, { title: 'Rules', path: 'rules', render: renderRules });
}
