// One query panel: the editor, the dedup and partial-response switches, and
// a Table or Graph tab showing the result, warnings and errors exactly as
// the server returned them.

import { call, Envelope } from './api';
import { clear, h } from './dom';
import { createEditor, Editor } from './editor';
import { Graph, GraphRequest, renderGraph } from './graph';
import { clearHistory, loadHistory, remember } from './history';
import { QueryData } from './series';
import { PanelState, Tab } from './state';
import { renderTable, resultCount } from './table';
import { formatDuration, formatTime, parseDuration, parseTime } from './time';

export const rangePresets = ['5m', '15m', '30m', '1h', '2h', '6h', '12h', '1d', '2d', '1w', '2w'];

// Prometheus's UI aims for about 250 points across the graph by default.
const autoPoints = 250;

export class Panel {
  readonly el: HTMLElement;
  private editor: Editor;
  private content = h('div', { class: 'panel-content' });
  private messages = h('div', { class: 'messages' });
  private info = h('div', { class: 'result-info' });
  private controls = h('div', { class: 'tab-controls' });
  private tabs = new Map<Tab, HTMLElement>();
  private graph?: Graph;
  private inflight?: AbortController;

  constructor(
    public state: PanelState,
    private onStateChange: () => void,
    onRemove: () => void,
  ) {
    const editorBox = h('div', { class: 'editor' });
    this.editor = createEditor(editorBox, state.expr, () => this.run(), (text) => {
      this.state.expr = text;
      this.onStateChange();
    });
    const checkbox = (label: string, cls: string, get: () => boolean, set: (v: boolean) => void) =>
      h('label', { class: 'check ' + cls },
        h('input', { type: 'checkbox', checked: get(), onchange: (e: Event) => {
          set((e.target as HTMLInputElement).checked);
          this.changedAndRerun();
        } }),
        ' ' + label);
    for (const tab of ['table', 'graph'] as Tab[]) {
      this.tabs.set(tab, h('button', { class: 'tab tab-' + tab, type: 'button', onclick: () => this.selectTab(tab) },
        tab === 'table' ? 'Table' : 'Graph'));
    }
    this.el = h('section', { class: 'panel' },
      h('div', { class: 'query-row' },
        editorBox,
        this.historyMenu(),
        h('button', { class: 'btn btn-primary execute', type: 'button', onclick: () => this.run() }, 'Execute'),
      ),
      h('div', { class: 'options-row' },
        checkbox('Deduplication', 'dedup', () => this.state.dedup, (v) => (this.state.dedup = v)),
        checkbox('Partial response', 'partial', () => this.state.partial, (v) => (this.state.partial = v)),
        h('span', { class: 'spacer' }),
        h('button', { class: 'btn btn-link remove', type: 'button', onclick: onRemove }, 'Remove panel'),
      ),
      h('div', { class: 'tabs' }, ...this.tabs.values()),
      h('div', { class: 'tab-body' }, this.controls, this.messages, this.info, this.content),
    );
    this.selectTab(state.tab, false);
  }

  destroy(): void {
    this.inflight?.abort();
    this.graph?.destroy();
    this.editor.view.destroy();
    this.el.remove();
  }

  focus(): void {
    this.editor.view.focus();
  }

  private changedAndRerun(): void {
    this.onStateChange();
    if (this.state.expr.trim()) void this.run();
  }

  private historyMenu(): HTMLElement {
    const list = h('ul', { class: 'history-list' });
    const details = h('details', { class: 'history' }, h('summary', { class: 'btn' }, 'History'), list);
    details.addEventListener('toggle', () => {
      if (!details.open) return;
      clear(list);
      const items = loadHistory();
      if (!items.length) list.append(h('li', { class: 'muted' }, 'No queries yet'));
      for (const expr of items) {
        list.append(h('li', { onclick: () => {
          details.open = false;
          this.editor.set(expr);
          void this.run();
        } }, expr));
      }
      if (items.length) {
        list.append(h('li', { class: 'muted clear', onclick: () => { clearHistory(); details.open = false; } }, 'Clear history'));
      }
    });
    return details;
  }

  private selectTab(tab: Tab, rerun = true): void {
    this.state.tab = tab;
    for (const [t, el] of this.tabs) el.classList.toggle('active', t === tab);
    this.renderControls();
    this.graph?.destroy();
    this.graph = undefined;
    clear(this.content);
    clear(this.messages);
    clear(this.info);
    if (rerun) this.changedAndRerun();
  }

  private renderControls(): void {
    clear(this.controls);
    const s = this.state;
    const input = (cls: string, value: string, ph: string, set: (v: string) => void, extra: Record<string, unknown> = {}) =>
      h('input', { class: 'input ' + cls, value, placeholder: ph, ...extra, onchange: (e: Event) => {
        set((e.target as HTMLInputElement).value.trim());
        this.changedAndRerun();
      } });
    if (s.tab === 'table') {
      this.controls.append(
        h('label', null, 'Evaluation time ', input('moment', s.moment, 'now (UTC: YYYY-MM-DD HH:MM:SS)', (v) => (s.moment = v), { size: 30 })),
      );
      return;
    }
    const rangeInput = input('range', s.range, '1h', (v) => (s.range = v), { list: 'range-presets', size: 6 });
    const stepRange = (dir: number) => () => {
      const cur = parseDuration(s.range) ?? 3600e3;
      const ms = rangePresets.map((p) => parseDuration(p)!);
      const next = dir < 0 ? [...ms].reverse().find((m) => m < cur) : ms.find((m) => m > cur);
      s.range = formatDuration(next ?? cur);
      rangeInput.value = s.range;
      this.changedAndRerun();
    };
    this.controls.append(
      h('span', { class: 'range-group' },
        h('button', { class: 'btn', type: 'button', title: 'Shorter range', onclick: stepRange(-1) }, '−'),
        rangeInput,
        h('button', { class: 'btn', type: 'button', title: 'Longer range', onclick: stepRange(1) }, '+')),
      h('label', null, 'End ', input('end', s.end, 'now (UTC)', (v) => (s.end = v), { size: 20 })),
      h('label', null, 'Step ', input('step', s.step, 'auto', (v) => (s.step = v), { size: 6 })),
      h('select', { class: 'input display-mode', onchange: (e: Event) => {
        s.stacked = (e.target as HTMLSelectElement).value === 'stacked';
        this.changedAndRerun();
      } },
        h('option', { value: 'lines', selected: !s.stacked }, 'Lines'),
        h('option', { value: 'stacked', selected: s.stacked }, 'Stacked')),
    );
  }

  private showEnvelope(r: Envelope<unknown>): void {
    if (r.status === 'error') {
      this.messages.append(h('div', { class: 'alert alert-error' },
        h('strong', null, r.errorType ?? 'error'), ': ', r.error ?? '(no error text)'));
    }
    for (const w of r.warnings ?? []) this.messages.append(h('div', { class: 'alert alert-warning' }, h('strong', null, 'Warning: '), w));
    for (const i of r.infos ?? []) this.messages.append(h('div', { class: 'alert alert-info' }, h('strong', null, 'Info: '), i));
  }

  private localError(text: string): void {
    this.messages.append(h('div', { class: 'alert alert-error' }, text));
  }

  // run evaluates the expression for the active tab. A newer run cancels
  // the one still in flight, so results never arrive out of order.
  async run(): Promise<void> {
    const expr = this.editor.value().trim();
    this.state.expr = this.editor.value();
    this.onStateChange();
    if (!expr) return;
    remember(expr);
    this.inflight?.abort();
    const ctl = (this.inflight = new AbortController());
    const s = this.state;
    const params = new URLSearchParams({ query: expr, dedup: String(s.dedup), partial_response: String(s.partial) });
    let path = 'query';
    let graphReq: GraphRequest | undefined;
    const now = Date.now();
    if (s.tab === 'table') {
      const t = parseTime(s.moment);
      if (Number.isNaN(t)) return this.resetWith(() => this.localError(`Cannot read evaluation time "${s.moment}"`));
      params.set('time', String((t ?? now) / 1000));
    } else {
      const range = parseDuration(s.range);
      const end = parseTime(s.end);
      const explicitStep = s.step ? parseDuration(s.step) : null;
      if (range === null) return this.resetWith(() => this.localError(`Cannot read range "${s.range}"`));
      if (Number.isNaN(end)) return this.resetWith(() => this.localError(`Cannot read end time "${s.end}"`));
      if (s.step && explicitStep === null) return this.resetWith(() => this.localError(`Cannot read step "${s.step}"`));
      const endS = Math.floor((end ?? now) / 1000);
      const step = explicitStep !== null ? explicitStep / 1000 : Math.max(Math.floor(range / 1000 / autoPoints), 1);
      graphReq = { start: endS - range / 1000, end: endS, step, stacked: s.stacked };
      path = 'query_range';
      params.set('start', String(graphReq.start));
      params.set('end', String(graphReq.end));
      params.set('step', String(step));
    }
    this.el.classList.add('loading');
    const started = performance.now();
    let r: Envelope<QueryData>;
    try {
      r = await call<QueryData>(path, params, ctl.signal);
    } catch {
      return; // aborted by a newer run
    } finally {
      if (this.inflight === ctl) this.el.classList.remove('loading');
    }
    if (this.inflight !== ctl) return;
    const took = Math.round(performance.now() - started);
    this.resetWith(() => {
      this.showEnvelope(r);
      if (r.status !== 'success' || !r.data) return;
      const parts = [`Load time: ${took}ms`];
      if (graphReq) parts.push(`Resolution: ${formatDuration(graphReq.step * 1000)}`);
      parts.push(`Result series: ${resultCount(r.data)}`);
      if (!graphReq) parts.push(`Evaluated at ${formatTime(parseFloat(params.get('time')!) * 1000)} UTC`);
      this.info.textContent = parts.join(' · ');
      if (!graphReq) {
        this.content.append(renderTable(r.data));
      } else if (r.data.resultType !== 'matrix') {
        this.localError(`The graph needs a range vector result; this query returns a ${r.data.resultType}. Use the Table tab.`);
      } else if (r.data.result.length === 0) {
        this.content.append(h('div', { class: 'empty' }, 'Empty query result'));
      } else {
        this.graph = renderGraph(this.content, r.data.result, graphReq);
      }
    });
  }

  private resetWith(fill: () => void): void {
    this.graph?.destroy();
    this.graph = undefined;
    clear(this.content);
    clear(this.messages);
    clear(this.info);
    fill();
  }
}
