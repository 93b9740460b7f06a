#!/usr/bin/env node
'use strict';
// Sum a V8 heap snapshot (.heapsnapshot, e.g. from `npm run bench -- heap --snapshot FILE`)
// by owner: each object's own size goes to the nearest object of a named class above it on
// its shortest path from the roots, with the field that leads down to it (`Subject.window`,
// `ProcessTable.procs`), so what grows with the stream shows as a few lines. Shared objects
// go to whichever owner reaches them first; the figures are self sizes, not retained sizes.
//
//   node scripts/heap-summary.js FILE [TOP]

const fs = require('fs');

function summarise(file, top) {
  const snap = JSON.parse(fs.readFileSync(file, 'utf8'));
  const meta = snap.snapshot.meta;
  const NF = meta.node_fields.length;
  const EF = meta.edge_fields.length;
  const nodeTypes = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const { nodes, edges, strings } = snap;
  const T = meta.node_fields.indexOf('type');
  const NAME = meta.node_fields.indexOf('name');
  const SIZE = meta.node_fields.indexOf('self_size');
  const EDGES = meta.node_fields.indexOf('edge_count');
  const ET = meta.edge_fields.indexOf('type');
  const EN = meta.edge_fields.indexOf('name_or_index');
  const TO = meta.edge_fields.indexOf('to_node');
  const n = nodes.length / NF;
  const firstEdge = new Uint32Array(n + 1);
  for (let i = 0, e = 0; i < n; i++) {
    firstEdge[i] = e;
    e += nodes[i * NF + EDGES] * EF;
  }
  firstEdge[n] = edges.length;
  // breadth first from the root: each node's parent on a shortest path, as DevTools' distance
  const parent = new Int32Array(n).fill(-1);
  const via = new Int32Array(n).fill(-1);
  const seen = new Uint8Array(n);
  const queue = new Int32Array(n);
  let head = 0;
  let tail = 0;
  queue[tail++] = 0;
  seen[0] = 1;
  while (head < tail) {
    const i = queue[head++];
    for (let e = firstEdge[i]; e < firstEdge[i + 1]; e += EF) {
      const type = edgeTypes[edges[e + ET]];
      if (type === 'weak' || type === 'shortcut') continue;
      const to = edges[e + TO] / NF;
      if (seen[to]) continue;
      seen[to] = 1;
      parent[to] = i;
      via[to] = e;
      queue[tail++] = to;
    }
  }
  const typeOf = (i) => nodeTypes[nodes[i * NF + T]];
  const nameOf = (i) => strings[nodes[i * NF + NAME]];
  const edgeName = (e) => {
    const type = edgeTypes[edges[e + ET]];
    return type === 'element' || type === 'hidden' ? '[]' : String(strings[edges[e + EN]]);
  };
  const generic = new Set(['Object', 'Array', 'Map', 'Set']);
  const owners = new Map();
  let total = 0;
  for (let i = 0; i < n; i++) {
    let owner = 'unreachable';
    if (seen[i]) {
      owner = '(roots)';
      for (let j = i, depth = 0; depth < 12 && parent[j] >= 0; depth++, j = parent[j]) {
        const p = parent[j];
        if (typeOf(p) === 'object' && !generic.has(nameOf(p)) && /^[A-Z_]/.test(nameOf(p))) {
          owner = `${nameOf(p)}.${edgeName(via[j])}`;
          break;
        }
        if (typeOf(p) === 'synthetic') {
          owner = `(roots) ${nameOf(p)}`;
          break;
        }
      }
    }
    const size = nodes[i * NF + SIZE];
    total += size;
    const o = owners.get(owner) ?? { count: 0, size: 0 };
    o.count++;
    o.size += size;
    owners.set(owner, o);
  }
  console.log(`${file}: ${(total / 1e6).toFixed(1)} MB in ${n.toLocaleString('en-US')} nodes (self sizes)`);
  const sorted = [...owners].sort((a, b) => b[1].size - a[1].size).slice(0, top);
  for (const [owner, o] of sorted) console.log(`${(o.size / 1e6).toFixed(2).padStart(8)} MB ${String(o.count).padStart(9)}  ${owner}`);
}

const [file, top] = process.argv.slice(2);
if (!file) {
  console.error('usage: node scripts/heap-summary.js FILE.heapsnapshot [TOP]');
  process.exit(64);
}
summarise(file, Number(top ?? 30));
