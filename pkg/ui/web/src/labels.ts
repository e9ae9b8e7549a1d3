// Labels and health as the pages show them: a badge per label, a badge
// per health or state.

import { h } from './dom';

export type LabelSet = Record<string, string>;

export function labelBadges(labels: LabelSet | null | undefined, omit: string[] = []): HTMLElement {
  const cell = h('div', { class: 'label-set' });
  for (const k of Object.keys(labels ?? {}).sort()) {
    if (!omit.includes(k)) cell.append(h('span', { class: 'badge label' }, `${k}="${labels![k]}"`));
  }
  return cell;
}

// replicaBadge says which replica an entry came from: the values of its
// replica labels, or nothing if it has none (deduplicated).
export function replicaBadge(labels: LabelSet | null | undefined, replicaLabels: string[]): HTMLElement | null {
  const values = replicaLabels.filter((l) => labels?.[l] !== undefined).map((l) => `${l}="${labels![l]}"`);
  return values.length ? h('span', { class: 'badge replica', title: 'the replica this comes from' }, values.join(', ')) : null;
}

// stateBadge shows a health (up, down, ok, err, unknown) or an alert
// state (firing, pending, inactive).
export function stateBadge(state: string): HTMLElement {
  return h('span', { class: `badge state ${state}` }, state);
}
