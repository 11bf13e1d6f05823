// Renders one SVG chart per benchmark scenario from bench/results/latest.json, with Vega-Lite (no browser):
// `node bench/charts.mjs`. `npm run bench` runs it after the measurements.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as vega from 'vega';
import * as vegaLite from 'vega-lite';

const here = dirname(fileURLToPath(import.meta.url));
const { meta, scenarios } = JSON.parse(readFileSync(join(here, 'results', 'latest.json'), 'utf8'));
const OURS = 'nestjs-memolock';
mkdirSync(join(here, 'charts'), { recursive: true });

for (const scenario of scenarios) {
  const { metric, label, higherIsBetter } = scenario.primary;
  const values = scenario.rows
    .filter((row) => typeof row[metric] === 'number')
    .map((row) => ({
      peer: row.peer,
      value: row[metric],
      ours: row.peer.startsWith(OURS) ? 'nestjs-memolock' : 'others',
    }));
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: {
      text: scenario.title,
      subtitle: `${label} (${higherIsBetter ? 'higher' : 'lower'} is better) · ${(scenario.meta ?? meta).date}, Node ${(scenario.meta ?? meta).node}, ${(scenario.meta ?? meta).redis}`,
    },
    width: 520,
    height: { step: 26 },
    data: { values },
    mark: { type: 'bar', cornerRadiusEnd: 3 },
    encoding: {
      y: { field: 'peer', type: 'nominal', sort: null, title: null, axis: { labelLimit: 260 } },
      x: { field: 'value', type: 'quantitative', title: label },
      color: {
        field: 'ours',
        type: 'nominal',
        scale: { domain: ['nestjs-memolock', 'others'], range: ['#e0234e', '#8a8f98'] },
        legend: null,
      },
      tooltip: [{ field: 'peer' }, { field: 'value', title: label }],
    },
    config: { font: 'sans-serif', background: 'white' },
  };
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'none' });
  writeFileSync(join(here, 'charts', `${scenario.id}.svg`), await view.toSVG());
  view.finalize();
  console.log(`bench/charts/${scenario.id}.svg`);
}
