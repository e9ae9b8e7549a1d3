// The single-page app's entry: picks the page from the path below the
// <base href> the server set, and marks it in the navigation bar.

import './style.css';
import { renderQueryPage } from './querypage';
import { renderAlertsPage, renderRulesPage } from './rules';
import { renderStatus } from './status';
import { renderStores } from './stores';
import { renderTargetsPage } from './targets';

const pages = ['graph', 'alerts', 'rules', 'targets', 'stores', 'status'] as const;
type Page = (typeof pages)[number];

// currentPage reads the path below the base: "", "graph" and "query" are
// the expression browser.
function currentPage(): Page {
  const base = new URL(document.baseURI).pathname;
  const path = location.pathname.startsWith(base) ? location.pathname.slice(base.length) : '';
  const first = path.split('/')[0] as Page;
  return pages.includes(first) ? first : 'graph';
}

function main(): void {
  const app = document.getElementById('app')!;
  const page = currentPage();
  for (const a of document.querySelectorAll<HTMLElement>('.nav-link')) {
    a.classList.toggle('active', a.dataset.page === page);
  }
  const titles: Record<Page, string> = {
    graph: 'Query', alerts: 'Alerts', rules: 'Rules', targets: 'Targets', stores: 'Stores', status: 'Status',
  };
  document.title = `${titles[page]} · Tandem`;
  switch (page) {
    case 'alerts':
      void renderAlertsPage(app);
      break;
    case 'rules':
      void renderRulesPage(app);
      break;
    case 'targets':
      void renderTargetsPage(app);
      break;
    case 'stores':
      renderStores(app);
      break;
    case 'status':
      void renderStatus(app);
      break;
    default:
      void renderQueryPage(app);
  }
}

main();
