import * as fs from 'fs';
import * as path from 'path';
import { BAD_BELOW, GOOD_FROM } from '../scorer/calibration';
import type { ModelSummary, ScoredEvent } from '../scorer/types';
import { evenSample } from '../scorer/sample';

// A self-contained HTML report for people who would rather look than read: per-subject score
// timelines, the top anomalies with their reasons, the score distribution with the 0.3 and
// 0.7 lines, and the model states. Plots are Vega-Lite specs rendered to inline SVG in Node,
// so the file needs no network and no JavaScript to display.

export interface ReportData {
  scores: readonly ScoredEvent[];
  models: readonly ModelSummary[];
  /** unixTime the report was made */
  generated: number;
  title?: string;
}

/** points drawn per subject timeline: every bad and ugly row, and an even sample of the good */
const MAX_GOOD_POINTS = 600;
const TOP_ANOMALIES = 50;

type Spec = Record<string, unknown>;

async function renderSvg(spec: Spec): Promise<string> {
  const vl = await import('vega-lite');
  const vega = await import('vega');
  const compiled = vl.compile(spec as never).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

const COLORS = { domain: ['good', 'ugly', 'bad'], range: ['#3a7d44', '#d98e04', '#c0392b'] };

function thresholdLayers(axis: 'x' | 'y'): Spec[] {
  return [BAD_BELOW, GOOD_FROM].map((v) => ({
    mark: { type: 'rule', strokeDash: [4, 3], color: v === BAD_BELOW ? '#c0392b' : '#d98e04' },
    encoding: { [axis]: { datum: v } },
  }));
}

function timelineSpec(subject: string, points: Array<{ t: string; score: number; verdict: string; event: string }>): Spec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    width: 860,
    height: 140,
    title: { text: subject, anchor: 'start', fontSize: 13 },
    data: { values: points },
    layer: [
      {
        mark: { type: 'point', filled: true, size: 28, opacity: 0.75 },
        encoding: {
          x: { field: 't', type: 'temporal', title: 'time (UTC)', axis: { format: '%b %d %H:%M', labelAngle: 0 } },
          y: { field: 'score', type: 'quantitative', title: 'score', scale: { domain: [0, 1] } },
          color: { field: 'verdict', type: 'nominal', scale: COLORS, legend: { orient: 'right', title: 'verdict' } },
        },
      },
      ...thresholdLayers('y'),
    ],
  };
}

function histogramSpec(values: Array<{ score: number; verdict: string }>): Spec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    width: 860,
    height: 180,
    data: { values },
    layer: [
      {
        mark: 'bar',
        encoding: {
          x: { field: 'score', type: 'quantitative', bin: { step: 0.025, extent: [0, 1] }, title: 'score (1 = normal)' },
          y: { aggregate: 'count', type: 'quantitative', title: 'rows', scale: { type: 'symlog' } },
          color: { field: 'verdict', type: 'nominal', scale: COLORS, legend: { orient: 'right', title: 'verdict' } },
        },
      },
      ...thresholdLayers('x'),
    ],
  };
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function iso(t: number): string {
  return new Date(t * 1000).toISOString().replace('.000Z', 'Z').replace('T', ' ');
}

export async function writeReport(outDir: string, data: ReportData): Promise<string> {
  const scored = data.scores.filter((s) => s.score !== null);
  const bySubject = new Map<string, ScoredEvent[]>();
  for (const s of scored) (bySubject.get(s.subject) ?? bySubject.set(s.subject, []).get(s.subject)!).push(s);

  const timelines: string[] = [];
  for (const [subject, rows] of [...bySubject].sort((a, b) => a[0].localeCompare(b[0]))) {
    rows.sort((a, b) => a.time - b.time);
    const flagged = rows.filter((r) => r.verdict !== 'good');
    const good = evenSample(rows.filter((r) => r.verdict === 'good'), MAX_GOOD_POINTS);
    const points = [...good, ...flagged].map((r) => ({ t: new Date(r.time * 1000).toISOString(), score: r.score as number, verdict: r.verdict, event: r.event }));
    timelines.push(`<figure>${await renderSvg(timelineSpec(`${subject}: ${rows.length} scored rows, ${flagged.filter((r) => r.verdict === 'bad').length} bad, ${flagged.filter((r) => r.verdict === 'ugly').length} ugly`, points))}</figure>`);
  }
  const histogram = scored.length ? await renderSvg(histogramSpec(scored.map((s) => ({ score: s.score as number, verdict: s.verdict })))) : '<p>No scored rows yet: every subject is still learning.</p>';

  const top = scored
    .filter((s) => s.verdict === 'bad' || s.verdict === 'ugly')
    .sort((a, b) => (a.score as number) - (b.score as number) || b.time - a.time)
    .slice(0, TOP_ANOMALIES);
  const counts = { good: 0, ugly: 0, bad: 0, learning: 0 } as Record<string, number>;
  for (const s of data.scores) counts[s.verdict]++;

  const anomalyRows = top
    .map(
      (s) =>
        `<tr class="${s.verdict}"><td>${escapeHtml(iso(s.time))}</td><td>${escapeHtml(s.subject)}</td><td class="num">${(s.score as number).toFixed(3)}</td><td>${escapeHtml(s.verdict)}</td><td><code>${escapeHtml(s.event)}</code></td><td>${escapeHtml(s.reasons)}</td><td>${escapeHtml(s.model)}</td></tr>`,
    )
    .join('\n');
  const modelRows = [...data.models]
    .sort((a, b) => a.subject.localeCompare(b.subject) || a.model.localeCompare(b.model))
    .map(
      (m) =>
        `<tr><td>${escapeHtml(m.subject)}</td><td>${escapeHtml(m.model)}</td><td>${escapeHtml(m.state)}</td><td class="num">${m.events.toLocaleString('en-US')}</td><td>${m.lastTrained ? escapeHtml(iso(m.lastTrained)) : '—'}</td><td class="num">${m.calibration}</td><td>${escapeHtml(m.backend)}</td></tr>`,
    )
    .join('\n');
  const title = escapeHtml(data.title ?? 'anomaly.ext report');
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title}</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2329; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { font-size: 1.15rem; margin-top: 2.2rem; border-bottom: 1px solid #dde1e5; padding-bottom: .3rem; }
.meta { color: #5b6570; } .pill { display: inline-block; padding: .1rem .55rem; border-radius: 1rem; margin-right: .4rem; font-weight: 600; }
.pill.bad { background: #fbe3e0; color: #c0392b; } .pill.ugly { background: #fdf0d5; color: #9a6700; } .pill.good { background: #e3f1e5; color: #3a7d44; } .pill.learning { background: #e8ebef; color: #5b6570; }
table { border-collapse: collapse; width: 100%; font-size: 13px; } th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid #eceff2; vertical-align: top; }
th { background: #f5f7f9; } td.num { text-align: right; font-variant-numeric: tabular-nums; } tr.bad td:first-child { border-left: 3px solid #c0392b; } tr.ugly td:first-child { border-left: 3px solid #d98e04; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; background: #f5f7f9; padding: 0 .2rem; } figure { margin: .6rem 0; } svg { max-width: 100%; height: auto; }
</style></head><body>
<h1>${title}</h1>
<p class="meta">Generated ${escapeHtml(iso(data.generated))} · ${data.scores.length.toLocaleString('en-US')} retained rows · ${bySubject.size} subjects scored</p>
<p><span class="pill bad">${counts.bad} bad</span><span class="pill ugly">${counts.ugly} ugly</span><span class="pill good">${counts.good} good</span><span class="pill learning">${counts.learning} learning</span></p>
<p class="meta">Scores are calibrated per subject: on normal behaviour about 0.16 % of rows score below 0.3 (bad) and 6 % below 0.7 (ugly).</p>
<h2>Top anomalies</h2>
${top.length ? `<table><thead><tr><th>time (UTC)</th><th>subject</th><th>score</th><th>verdict</th><th>event</th><th>why</th><th>model</th></tr></thead><tbody>\n${anomalyRows}\n</tbody></table>` : '<p>No bad or ugly rows.</p>'}
<h2>Score timelines per subject</h2>
${timelines.join('\n') || '<p>No scored rows yet.</p>'}
<h2>Score distribution</h2>
<figure>${histogram}</figure>
<h2>Models</h2>
<table><thead><tr><th>subject</th><th>model</th><th>state</th><th>events</th><th>last trained (UTC)</th><th>calibration</th><th>backend</th></tr></thead><tbody>
${modelRows}
</tbody></table>
</body></html>
`;
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, 'index.html');
  fs.writeFileSync(file, html);
  return file;
}
