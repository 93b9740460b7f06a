import * as fs from 'fs';
import * as path from 'path';
import { FLEET_SUBJECT, hostBaselineName } from '../scorer/baseline';
import { BAD_BELOW, GOOD_FROM } from '../scorer/calibration';
import type { ModelSummary, ScoredEvent, ScoredWindow } from '../scorer/types';
import { evenSample } from '../scorer/sample';
import { replaceFile, writeAll } from '../state/atomic';
import { showHidden } from '../extension/hidden-chars';
import { duration, findIncidents, INCIDENT_GAP_SECONDS, subjectKey, type Incident } from './incidents';

// A self-contained HTML report for people who would rather look than read: the incidents
// (bad rows and windows of one subject close in time), each on its own time axis so that a
// morning's activity is not one dot on a 14-day axis; the top anomalies with their reasons;
// per-subject score timelines on one shared time axis; the score distribution with the 0.3
// and 0.7 lines; and the model states. Plots are Vega-Lite specs rendered to inline SVG in
// Node, so the file needs no network and no JavaScript to display.

export interface ReportData {
  scores: readonly ScoredEvent[];
  /** retained anomaly_windows rows; none when the windows were not kept */
  windows?: readonly ScoredWindow[];
  models: readonly ModelSummary[];
  /** unixTime the report was made */
  generated: number;
  title?: string;
  /** state files that could not be read, each with its path and why: their models are missing */
  unreadable?: readonly string[];
}

/** points drawn per subject timeline: every bad and ugly row, and an even sample of the good */
const MAX_GOOD_POINTS = 600;
const TOP_ANOMALIES = 50;
/** incidents drawn on their own axes; the rest are listed */
const INCIDENT_PLOTS = 12;
const INCIDENT_ROWS = 100;
/**
 * subject timelines drawn, the least normal first: each takes ~55 ms and ~14 kB, and a local
 * user with a subordinate uid range (65,536 uids) makes a subject of each uid
 */
const TIMELINES = 60;
/**
 * subjects whose models the models table lists: the same flood makes three rows of each. Room
 * for every subject drawn, its host's baseline and the fleet prior: at 60, 60 subjects drawn on
 * 60 hosts listed 30 of them (rev3)
 */
const MODEL_SUBJECTS = 2 * TIMELINES + 1;

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
    // one datum of its own: a layer without data draws a rule for every row of the data it
    // inherits (the histogram's: two lines per retained row, 18 MB of SVG for 100,000 rows)
    data: { values: [{}] },
    mark: { type: 'rule', strokeDash: [4, 3], color: v === BAD_BELOW ? '#c0392b' : '#d98e04' },
    encoding: { [axis]: { datum: v } },
  }));
}

interface Point {
  t: string;
  score: number;
  verdict: string;
  event: string;
}

interface WindowBar {
  /** epoch milliseconds */
  s: number;
  e: number;
  score: number;
  verdict: string;
}

/**
 * Scores over time: a dot per row, a horizontal bar per window (from its start to its end, at
 * its score), the 0.3 and 0.7 lines. `domain` fixes the time axis, so that several plots share it.
 */
function timelineSpec(opts: { title: string; points: Point[]; windows: WindowBar[]; domain: [number, number]; height: number; format: string }): Spec {
  // the domain is set once, on the rows' layer (vega-lite sees a second explicit domain as a
  // conflict); windows are clamped to it, so they cannot widen it
  // a UTC scale: vega formats a temporal axis in the time zone of whoever runs `anomaly
  // report`, and the title and the tables say UTC
  const x = (field: string, withDomain: boolean) => ({
    field,
    type: 'temporal',
    title: 'time (UTC)',
    scale: { type: 'utc', ...(withDomain ? { domain: opts.domain } : {}) },
    axis: { format: opts.format, labelAngle: 0, labelOverlap: true, tickCount: 10 },
  });
  const [lo, hi] = opts.domain;
  const windows = opts.windows.filter((w) => w.e > lo && w.s < hi).map((w) => ({ ...w, s: Math.max(w.s, lo), e: Math.min(w.e, hi) }));
  const color = { field: 'verdict', type: 'nominal', scale: COLORS, legend: { orient: 'right', title: 'verdict' } };
  const y = { field: 'score', type: 'quantitative', title: 'score', scale: { domain: [0, 1] } };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    width: 860,
    height: opts.height,
    // vega escapes markup in SVG text, not controls: the title names a subject
    title: { text: visible(opts.title), anchor: 'start', fontSize: 13, limit: 1000 },
    layer: [
      { data: { values: opts.points }, mark: { type: 'point', filled: true, size: 28, opacity: 0.75, clip: true }, encoding: { x: x('t', true), y, color } },
      ...(windows.length
        ? [
            {
              data: { values: windows },
              mark: { type: 'rule', strokeWidth: 4, opacity: 0.45, clip: true },
              encoding: { x: x('s', false), x2: { field: 'e' }, y, color },
            },
          ]
        : []),
      ...thresholdLayers('y'),
    ],
  };
}

/** "Sep 23 16:13–16:23 UTC", or with both dates when the span crosses midnight */
function span(from: number, to: number): string {
  const day = (t: number) => new Date(t * 1000).toUTCString().slice(8, 11) + new Date(t * 1000).toUTCString().slice(4, 7);
  const hm = (t: number) => new Date(t * 1000).toISOString().slice(11, 16);
  const a = `${day(from)} ${hm(from)}`;
  if (to - from < 60) return `${a} UTC`;
  return `${a}–${day(to) === day(from) ? '' : `${day(to)} `}${hm(to)} UTC`;
}

function isoT(t: number): string {
  return new Date(t * 1000).toISOString();
}

/** axis labels for a span: hours and minutes within a day, dates beyond */
function timeFormat(seconds: number): string {
  return seconds <= 86400 ? '%H:%M' : seconds <= 7 * 86400 ? '%b %d %H:%M' : '%b %d';
}

function bars(windows: readonly ScoredWindow[]): WindowBar[] {
  return windows.filter((w) => w.score !== null).map((w) => ({ s: w.start * 1000, e: w.end * 1000, score: w.score as number, verdict: w.verdict }));
}

function pointsOf(rows: readonly ScoredEvent[]): Point[] {
  return rows.map((r) => ({ t: isoT(r.time), score: r.score as number, verdict: r.verdict, event: r.event }));
}

/** one incident on its own axis: the subject's rows and windows around it */
async function incidentFigure(incident: Incident, rows: readonly ScoredEvent[], windows: readonly ScoredWindow[]): Promise<string> {
  const pad = Math.max(300, (incident.end - incident.start) * 0.25);
  const from = incident.start - pad;
  const to = incident.end + pad;
  const near = rows.filter((r) => r.time >= from && r.time <= to);
  const flagged = near.filter((r) => r.verdict !== 'good');
  const points = pointsOf([
    ...evenSample(
      near.filter((r) => r.verdict === 'good'),
      MAX_GOOD_POINTS,
    ),
    ...flagged,
  ]);
  const spec = timelineSpec({
    title: `${incident.subject} · ${span(incident.start, incident.end)}`,
    points,
    windows: bars(windows.filter((w) => w.end > from && w.start < to)),
    domain: [from * 1000, to * 1000],
    height: 110,
    format: timeFormat(to - from),
  });
  return renderSvg(spec);
}

/** the histogram's bins: counted here, so that vega is given 40 bins per verdict and not every row */
const BIN_STEP = 0.025;
const BINS = Math.round(1 / BIN_STEP);

function histogramSpec(rows: ReadonlyArray<{ score: number | null; verdict: string }>): Spec {
  // a million retained rows given to vega as they are took it over a GB of memory to count
  const counts = new Map<string, number>();
  for (const r of rows) {
    if (r.score === null) continue;
    const bin = Math.min(BINS - 1, Math.max(0, Math.floor(r.score / BIN_STEP)));
    const key = `${r.verdict}\u0000${bin}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const values = [...counts].map(([key, rows]) => {
    const [verdict, bin] = key.split('\u0000');
    return { verdict, from: Number(bin) * BIN_STEP, to: (Number(bin) + 1) * BIN_STEP, rows };
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    width: 860,
    height: 180,
    data: { values },
    layer: [
      {
        mark: 'bar',
        encoding: {
          x: { field: 'from', type: 'quantitative', bin: { binned: true, step: BIN_STEP }, scale: { domain: [0, 1] }, title: 'score (1 = normal)' },
          x2: { field: 'to' },
          y: { field: 'rows', aggregate: 'sum', type: 'quantitative', title: 'rows', scale: { type: 'symlog' } },
          color: { field: 'verdict', type: 'nominal', scale: COLORS, legend: { orient: 'right', title: 'verdict' } },
        },
      },
      ...thresholdLayers('x'),
    ],
  };
}

/**
 * Control characters, bidi controls and characters that draw nothing of the rows made visible,
 * as the command line shows them (cli/commands/shared.ts printable): a program a local user
 * named `invoice<U+202E>gpj.exe` read "invoiceexe.jpg" in a table cell, `su<U+200B>do` read
 * "sudo"; escaping markup does not stop that
 */
export function visible(s: string): string {
  return showHidden(s);
}

export function escapeHtml(s: string): string {
  return visible(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** the `most` subjects whose lowest row or window score is lowest (more rows first among equals) */
function leastNormal(bySubject: Map<string, ScoredEvent[]>, windowsOf: Map<string, ScoredWindow[]>, most: number): Map<string, ScoredEvent[]> {
  if (bySubject.size <= most) return bySubject;
  const lowest = (key: string, rows: readonly ScoredEvent[]) => {
    let low = Infinity;
    for (const r of [...rows, ...(windowsOf.get(key) ?? [])]) if (r.score !== null && r.score < low) low = r.score;
    return low;
  };
  const ranked = [...bySubject].map(([key, rows]) => ({ key, rows, low: lowest(key, rows) }));
  ranked.sort((a, b) => a.low - b.low || b.rows.length - a.rows.length);
  return new Map(ranked.slice(0, most).map((r) => [r.key, r.rows]));
}

/**
 * The models to list, of at most `most` subjects: first those of the subjects drawn (the least
 * normal first), then the baselines of their hosts, then the fleet prior, then the others by
 * name. A model's subject is the row's, or the row's `subject@host` when users are per host.
 */
function modelsToList(models: readonly ModelSummary[], drawn: Iterable<string>, most: number): { listed: ModelSummary[]; subjects: number; of: number } {
  const bySubject = new Map<string, ModelSummary[]>();
  for (const m of models) (bySubject.get(m.subject) ?? bySubject.set(m.subject, []).get(m.subject)!).push(m);
  if (bySubject.size <= most) return { listed: [...models], subjects: bySubject.size, of: bySubject.size };
  const chosen = new Set<string>();
  const choose = (name: string) => {
    if (chosen.size < most && bySubject.has(name)) chosen.add(name);
  };
  const keys = [...drawn].map((key) => key.split('\u0000'));
  for (const [subject, host] of keys) for (const name of [`${subject}@${host}`, subject]) choose(name);
  for (const [, host] of keys) choose(hostBaselineName(host));
  choose(FLEET_SUBJECT);
  for (const name of [...bySubject.keys()].sort()) {
    if (chosen.size >= most) break;
    choose(name);
  }
  return { listed: [...chosen].flatMap((name) => bySubject.get(name)!), subjects: chosen.size, of: bySubject.size };
}

function iso(t: number): string {
  return new Date(t * 1000).toISOString().replace('.000Z', 'Z').replace('T', ' ');
}

function windowLength(windows: readonly ScoredWindow[]): string {
  return windows.length ? `${duration(windows[0].end - windows[0].start)} ` : '';
}

export async function writeReport(outDir: string, data: ReportData): Promise<string> {
  const scored = data.scores.filter((s) => s.score !== null);
  const windows = data.windows ?? [];
  // keyed by subject and host: a subject is per host, as the product models it (alice@web-01)
  const bySubject = new Map<string, ScoredEvent[]>();
  for (const s of scored) (bySubject.get(subjectKey(s)) ?? bySubject.set(subjectKey(s), []).get(subjectKey(s))!).push(s);
  const windowsOf = new Map<string, ScoredWindow[]>();
  for (const w of windows) (windowsOf.get(subjectKey(w)) ?? windowsOf.set(subjectKey(w), []).get(subjectKey(w))!).push(w);
  for (const key of windowsOf.keys()) if (!bySubject.has(key) && windowsOf.get(key)!.some((w) => w.score !== null)) bySubject.set(key, []);
  // names as the reader knows them: `alice` on a one-host report, `alice@web-01` on a fleet's
  const hostCount = new Set([...scored.map((s) => s.host), ...windows.map((w) => w.host)]).size;
  const nameOf = (key: string) => (hostCount > 1 ? key.replace('\u0000', '@') : key.slice(0, key.indexOf('\u0000')));

  // every subject on one time axis, so that what happened at the same time lines up
  const times = [...scored.map((s) => s.time), ...windows.flatMap((w) => [w.start, w.end])];
  let first = Infinity;
  let last = -Infinity;
  for (const t of times) {
    if (t < first) first = t;
    if (t > last) last = t;
  }
  const domain: [number, number] = times.length ? [first * 1000, last * 1000] : [data.generated * 1000, data.generated * 1000];
  const timelines: string[] = [];
  const drawn = leastNormal(bySubject, windowsOf, TIMELINES);
  for (const [key, rows] of [...drawn].sort((a, b) => nameOf(a[0]).localeCompare(nameOf(b[0])))) {
    const subject = nameOf(key);
    rows.sort((a, b) => a.time - b.time);
    const flagged = rows.filter((r) => r.verdict !== 'good');
    const points = pointsOf([
      ...evenSample(
        rows.filter((r) => r.verdict === 'good'),
        MAX_GOOD_POINTS,
      ),
      ...flagged,
    ]);
    const own = windowsOf.get(key) ?? [];
    const badWindows = own.filter((w) => w.verdict === 'bad').length;
    const title =
      `${subject}: ${rows.length} scored rows, ${flagged.filter((r) => r.verdict === 'bad').length} bad, ${flagged.filter((r) => r.verdict === 'ugly').length} ugly` +
      (own.length ? `; ${own.length} windows, ${badWindows} bad` : '');
    timelines.push(
      `<figure>${await renderSvg(timelineSpec({ title, points, windows: bars(own), domain, height: 140, format: timeFormat(last - first) }))}</figure>`,
    );
  }

  const incidents = findIncidents(data.scores, windows);
  const incidentFigures: string[] = [];
  for (const incident of incidents.slice(0, INCIDENT_PLOTS)) {
    const key = subjectKey({ subject: incident.subject, host: incident.hosts[0] });
    const svg = await incidentFigure(incident, bySubject.get(key) ?? [], windowsOf.get(key) ?? []);
    incidentFigures.push(
      `<div class="incident"><p><span class="pill bad">${incident.score.toFixed(3)}</span>${escapeHtml(incident.summary)}</p><figure>${svg}</figure></div>`,
    );
  }
  const incidentRows = incidents
    .slice(0, INCIDENT_ROWS)
    .map(
      (i) =>
        `<tr class="bad"><td class="nowrap">${escapeHtml(iso(i.start))}</td><td class="nowrap">${escapeHtml(duration(i.end - i.start))}</td><td>${escapeHtml(i.subject)}</td><td class="nowrap">${escapeHtml(i.hosts.join(', '))}</td><td class="num">${i.rows.length}</td><td class="num">${i.windows.length}</td><td class="num">${i.score.toFixed(3)}</td><td>${escapeHtml(i.summary.slice(i.summary.indexOf(': ') + 2))}</td></tr>`,
    )
    .join('\n');
  const histogram = scored.length ? await renderSvg(histogramSpec(scored)) : '<p>No scored rows yet: every subject is still learning.</p>';

  const top = scored
    .filter((s) => s.verdict === 'bad' || s.verdict === 'ugly')
    .sort((a, b) => (a.score as number) - (b.score as number) || b.time - a.time)
    .slice(0, TOP_ANOMALIES);
  const counts = { good: 0, ugly: 0, bad: 0, learning: 0 } as Record<string, number>;
  for (const s of data.scores) counts[s.verdict]++;

  const anomalyRows = top
    .map(
      (s) =>
        `<tr class="${s.verdict}"><td class="nowrap">${escapeHtml(iso(s.time))}</td><td>${escapeHtml(s.subject)}</td><td class="nowrap">${escapeHtml(s.host)}</td><td class="num">${(s.score as number).toFixed(3)}</td><td>${escapeHtml(s.verdict)}</td><td><code>${escapeHtml(s.event)}</code></td><td>${escapeHtml(s.reasons)}</td><td>${escapeHtml(s.model)}</td><td class="nowrap"><code>${escapeHtml(s.id)}</code></td></tr>`,
    )
    .join('\n');
  const models = modelsToList(data.models, drawn.keys(), MODEL_SUBJECTS);
  const modelRows = models.listed
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
th { background: #f5f7f9; } td.nowrap { white-space: nowrap; } td.num { text-align: right; font-variant-numeric: tabular-nums; } tr.bad td:first-child { border-left: 3px solid #c0392b; } tr.ugly td:first-child { border-left: 3px solid #d98e04; }
.incident { margin: 1.2rem 0 .4rem; } .incident p { margin: 0 0 .2rem; font-weight: 500; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; background: #f5f7f9; padding: 0 .2rem; } figure { margin: .6rem 0; } svg { max-width: 100%; height: auto; }
</style></head><body>
<h1>${title}</h1>
<p class="meta">Generated ${escapeHtml(iso(data.generated))} · ${data.scores.length.toLocaleString('en-US')} retained rows · ${bySubject.size} subjects scored</p>
<p>rows: <span class="pill bad">${counts.bad} bad</span><span class="pill ugly">${counts.ugly} ugly</span><span class="pill good">${counts.good} good</span><span class="pill learning">${counts.learning} learning</span>${windows.length ? ` · windows: <span class="pill bad">${windows.filter((w) => w.verdict === 'bad').length} bad</span><span class="pill ugly">${windows.filter((w) => w.verdict === 'ugly').length} ugly</span><span class="pill good">${windows.filter((w) => w.verdict === 'good').length} good</span>` : ''} · <span class="pill bad">${incidents.length} incident${incidents.length === 1 ? '' : 's'}</span></p>
<p class="meta">Scores are calibrated per subject: on normal behaviour about 0.16 % of rows score below 0.3 (bad) and 6 % below 0.7 (ugly).</p>
<h2>Incidents</h2>
<p class="meta">Bad rows and bad ${windowLength(windows)}windows of one subject less than ${Math.round(INCIDENT_GAP_SECONDS / 60)} minutes apart, most severe first. A window is bad when its rows together are far from the subject's usual mix, order or pace, though no single row need be.</p>
${incidents.length ? `<table><thead><tr><th>from (UTC)</th><th>for</th><th>subject</th><th>host</th><th>bad rows</th><th>bad windows</th><th>lowest score</th><th>what happened</th></tr></thead><tbody>\n${incidentRows}\n</tbody></table>${incidents.length > INCIDENT_ROWS ? `<p class="meta">… and ${incidents.length - INCIDENT_ROWS} more.</p>` : ''}\n${incidentFigures.join('\n')}` : '<p>No incidents: no bad rows or windows.</p>'}
<h2>Top anomalies</h2>
${top.length ? "<p class=\"meta\">A row that is normal for its subject: <code>anomaly feedback ID normal</code> where the extension runs (or <code>INSERT INTO anomaly_feedback (id, label) VALUES ('ID', 'normal')</code>) stops flagging its event for that subject.</p>\n" : ''}${top.length ? `<table><thead><tr><th>time (UTC)</th><th>subject</th><th>host</th><th>score</th><th>verdict</th><th>event</th><th>why</th><th>model</th><th>id</th></tr></thead><tbody>\n${anomalyRows}\n</tbody></table>` : '<p>No bad or ugly rows.</p>'}
<h2>Score timelines per subject</h2>
<p class="meta">One time axis for every subject. Dots are rows; horizontal bars are windows, from their start to their end at their score.${bySubject.size > drawn.size ? ` The ${drawn.size} subjects with the lowest scores are drawn; ${(bySubject.size - drawn.size).toLocaleString('en-US')} others, none of them lower, are not (the tables above list at most ${TOP_ANOMALIES} rows; every row of theirs is in <code>anomaly_scores</code>).` : ''}</p>
${timelines.join('\n') || '<p>No scored rows yet.</p>'}
<h2>Score distribution</h2>
<figure>${histogram}</figure>
<h2>Models</h2>
${models.of > models.subjects ? `<p class="meta">The models of ${models.subjects} subjects are listed: those of the subjects drawn above, the baselines of their hosts, then others by name; ${(models.of - models.subjects).toLocaleString('en-US')} others are not (every subject's models are in <code>anomaly_models</code>, which <code>anomaly status</code> prints).</p>\n` : ''}<table><thead><tr><th>subject</th><th>model</th><th>state</th><th>events</th><th>last trained (UTC)</th><th>calibration</th><th>backend</th></tr></thead><tbody>
${modelRows}
</tbody></table>
${data.unreadable?.length ? `<p><strong>Not shown: ${data.unreadable.length} state file${data.unreadable.length === 1 ? '' : 's'} could not be read (left in place):</strong></p>\n<ul>\n${data.unreadable.map((u) => `<li><code>${escapeHtml(u)}</code></li>`).join('\n')}\n</ul>` : ''}
</body></html>
`;
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, 'index.html');
  // Root writes reports, often into a directory others can write to (/tmp, a shared cwd):
  // writing to index.html there would follow a link its owner planted and overwrite the file
  // it names. A new file (O_EXCL: never an existing one, never through a link) renamed over
  // index.html replaces whatever is there instead. 0600: it holds every user's command lines.
  replaceFile(file, (fd) => writeAll(fd, html), false);
  return file;
}
