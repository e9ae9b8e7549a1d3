// The expression browser: a list of panels whose whole state lives in the
// page URL, so a copied link opens the same view.

import { h } from './dom';
import { serverFlags } from './flags';
import { Panel, rangePresets } from './panel';
import { defaultPanel, encodePanels, parsePanels } from './state';

export async function renderQueryPage(app: HTMLElement): Promise<void> {
  // New panels start with the server's --query.partial-response, which a
  // request without partial_response gets.
  const partial = (await serverFlags()).partialResponse;
  const list = h('div', { class: 'panels' });
  const panels: Panel[] = [];

  // replaceState, not pushState: every keystroke changes the state, and
  // Back should leave the page rather than undo typing.
  const sync = () => {
    const search = encodePanels(panels.map((p) => p.state));
    history.replaceState(null, '', location.pathname + (search ? '?' + search : ''));
  };
  const add = (state = defaultPanel(partial)) => {
    const p: Panel = new Panel(state, sync, () => {
      panels.splice(panels.indexOf(p), 1);
      p.destroy();
      if (!panels.length) add();
      sync();
    });
    panels.push(p);
    list.append(p.el);
    return p;
  };

  const states = parsePanels(location.search, partial);
  for (const s of states.length ? states : [defaultPanel(partial)]) add(s);
  app.append(
    h('datalist', { id: 'range-presets' }, ...rangePresets.map((r) => h('option', { value: r }))),
    list,
    h('button', { class: 'btn add-panel', type: 'button', onclick: () => {
      add().focus();
      sync();
    } }, 'Add panel'),
  );
  sync();
  if (panels.length === 1 && !panels[0].state.expr) panels[0].focus();
  for (const p of panels) if (p.state.expr.trim()) void p.run();
}
