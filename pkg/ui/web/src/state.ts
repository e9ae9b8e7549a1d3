// Panel state and its URL form. The parameter names are Prometheus's
// classic ones (g0.expr, g0.tab, g0.range_input, g0.end_input,
// g0.moment_input, g0.step_input, g0.stacked) plus the Thanos query's
// switches, so links made for either open here; g0.deduplicate, Thanos's
// spelling, is read too.

export type Tab = 'table' | 'graph';

export interface PanelState {
  expr: string;
  tab: Tab;
  range: string; // duration text, e.g. "1h"
  end: string; // time text; empty = now
  moment: string; // table evaluation time; empty = now
  step: string; // seconds or duration; empty = auto
  stacked: boolean;
  dedup: boolean;
  partial: boolean;
}

export function defaultPanel(partialDefault: boolean): PanelState {
  return {
    expr: '',
    tab: 'table',
    range: '1h',
    end: '',
    moment: '',
    step: '',
    stacked: false,
    dedup: true,
    partial: partialDefault,
  };
}

function flag(v: string | null, def: boolean): boolean {
  if (v === null) return def;
  return v === '1' || v === 'true';
}

export function parsePanels(search: string, partialDefault: boolean): PanelState[] {
  const q = new URLSearchParams(search);
  const panels: PanelState[] = [];
  for (let i = 0; q.has(`g${i}.expr`) || q.has(`g${i}.tab`); i++) {
    const get = (k: string) => q.get(`g${i}.${k}`);
    const d = defaultPanel(partialDefault);
    const tab = get('tab');
    panels.push({
      expr: get('expr') ?? '',
      // Prometheus's classic UI numbers the tabs: 0 graph, 1 table.
      tab: tab === 'graph' || tab === '0' ? 'graph' : 'table',
      range: get('range_input') || d.range,
      end: get('end_input') ?? '',
      moment: get('moment_input') ?? '',
      step: get('step_input') ?? '',
      stacked: flag(get('stacked'), false) || get('display_mode') === 'stacked',
      dedup: flag(get('dedup') ?? get('deduplicate'), d.dedup),
      partial: flag(get('partial_response'), d.partial),
    });
  }
  return panels;
}

export function encodePanels(panels: PanelState[]): string {
  const q = new URLSearchParams();
  panels.forEach((p, i) => {
    const set = (k: string, v: string) => q.set(`g${i}.${k}`, v);
    set('expr', p.expr);
    set('tab', p.tab);
    set('dedup', p.dedup ? '1' : '0');
    set('partial_response', p.partial ? '1' : '0');
    if (p.tab === 'graph') {
      set('range_input', p.range);
      if (p.end) set('end_input', p.end);
      if (p.step) set('step_input', p.step);
      set('stacked', p.stacked ? '1' : '0');
    } else if (p.moment) {
      set('moment_input', p.moment);
    }
  });
  return q.toString();
}
