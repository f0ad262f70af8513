"""The run page's drawings, made on the server as SVG (no script library in the browser).

:func:`dag` lays a graph out in layers (longest path from the inputs, left to right;
within a layer, by the average position of the nodes feeding it) and colours each node
by the state of its latest execution. :func:`gantt` draws one bar per node execution
on a shared time axis. Each answers None when the picture would be too big to read
(the page then shows a list instead), so a large graph never freezes a tab.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from markupsafe import Markup, escape

from fleet.clock import as_utc

BOX_W, BOX_H, GAP_X, GAP_Y, PAD = 156, 44, 64, 18, 12
LABEL_W, CHART_W, ROW_H = 190, 620, 22
COLOURS = {
    "completed": "#2e7d32", "failed": "#c62828", "running": "#1565c0",
    "waiting": "#ef8f00", "waiting_tool": "#ef8f00", "waiting_approval": "#ef8f00",
    "cancelled": "#6d6d6d", "rejected": "#6d6d6d", "timeout": "#ad1457",
}
IDLE = "#90a4ae"


def _node_of(ref: Any) -> str:
    return str(ref).split(".", 1)[0]


def layers(node_ids: list[str], edges: list[tuple[str, str]]) -> dict[str, int]:
    """Each node's layer: the longest path to it from a node with no inputs."""
    preds: dict[str, set[str]] = defaultdict(set)
    succs: dict[str, set[str]] = defaultdict(set)
    for a, b in edges:
        if a != b:
            preds[b].add(a)
            succs[a].add(b)
    layer = dict.fromkeys(node_ids, 0)
    indegree = {n: len(preds[n]) for n in node_ids}
    ready = [n for n in node_ids if indegree[n] == 0]
    seen = 0
    while ready:
        n = ready.pop(0)
        seen += 1
        for m in sorted(succs[n]):
            if m in layer:
                layer[m] = max(layer[m], layer[n] + 1)
                indegree[m] -= 1
                if indegree[m] == 0:
                    ready.append(m)
    return layer  # a cycle (never valid) leaves its nodes where they were reached


def dag(definition: dict[str, Any], states: dict[str, str], max_nodes: int) -> Markup | None:
    """The graph as SVG, or None when it has more than ``max_nodes`` nodes."""
    nodes = [n for n in definition.get("nodes", []) or [] if isinstance(n, dict) and "id" in n]
    if not nodes or len(nodes) > max_nodes:
        return None
    ids = [str(n["id"]) for n in nodes]
    blocks = {str(n["id"]): str(n.get("block", "")) for n in nodes}
    edges = []
    for link in definition.get("links", []) or []:
        if isinstance(link, dict) and "source" in link and "sink" in link:
            a, b = _node_of(link["source"]), _node_of(link["sink"])
            if a in blocks and b in blocks:
                edges.append((a, b))
    layer = layers(ids, edges)
    columns: dict[int, list[str]] = defaultdict(list)
    for n in ids:
        columns[layer[n]].append(n)
    pos: dict[str, tuple[float, float]] = {}
    preds: dict[str, list[str]] = defaultdict(list)
    for a, b in edges:
        preds[b].append(a)
    for col in sorted(columns):
        members = columns[col]
        if col:  # order by where the inputs come from, to keep lines short
            members.sort(key=lambda n: (sum(pos[p][1] for p in preds[n] if p in pos)
                                        / max(1, sum(1 for p in preds[n] if p in pos))))
        for i, n in enumerate(members):
            pos[n] = (PAD + col * (BOX_W + GAP_X), PAD + i * (BOX_H + GAP_Y))
    width = PAD * 2 + (max(columns) + 1) * BOX_W + max(columns) * GAP_X
    height = PAD * 2 + max(len(m) for m in columns.values()) * (BOX_H + GAP_Y) - GAP_Y
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="dag" width="{width}" '
           f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="graph of {len(ids)} nodes">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
           'markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" '
           'fill="#78909c"/></marker></defs>']
    for a, b in edges:
        (x1, y1), (x2, y2) = pos[a], pos[b]
        sx, sy, ex, ey = x1 + BOX_W, y1 + BOX_H / 2, x2, y2 + BOX_H / 2
        mid = (sx + ex) / 2
        out.append(f'<path class="edge" d="M{sx:.0f},{sy:.0f} C{mid:.0f},{sy:.0f} '
                   f'{mid:.0f},{ey:.0f} {ex - 2:.0f},{ey:.0f}" fill="none" stroke="#78909c" '
                   'stroke-width="1.5" marker-end="url(#arrow)"/>')
    for n in ids:
        x, y = pos[n]
        state = states.get(n)
        colour = COLOURS.get(state or "", IDLE)
        out.append(f'<g class="node" data-node="{escape(n)}" data-state="{escape(state or "")}">'
                   f'<title>{escape(n)} ({escape(blocks[n])}): {escape(state or "not run")}'
                   f'</title><rect x="{x:.0f}" y="{y:.0f}" width="{BOX_W}" height="{BOX_H}" '
                   f'rx="6" fill="#fff" stroke="{colour}" stroke-width="2.5"/>'
                   f'<text x="{x + 10:.0f}" y="{y + 18:.0f}" class="name">{escape(n[:22])}</text>'
                   f'<text x="{x + 10:.0f}" y="{y + 34:.0f}" class="block">'
                   f'{escape(blocks[n][:24])}</text></g>')
    out.append("</svg>")
    return Markup("".join(out))


@dataclass(frozen=True)
class Bar:
    """One node execution on the timeline."""

    node_id: str
    block_id: str
    start: datetime | None
    end: datetime | None
    status: str


def bars_from_tracker(tracker: dict[str, Any]) -> list[Bar]:
    """The tracker's executions as bars, in start order."""
    found = []
    for e in tracker.get("executions", []) or []:
        if not isinstance(e, dict):
            continue
        start, end = e.get("started_at"), e.get("ended_at")
        found.append(Bar(str(e.get("node_id", "?")), str(e.get("block_id", "")),
                         as_utc(datetime.fromisoformat(start)) if start else None,
                         as_utc(datetime.fromisoformat(end)) if end else None,
                         str(e.get("status", ""))))
    return sorted(found, key=lambda b: (b.start is None, b.start or datetime.min))


def gantt(bars: list[Bar], now: datetime, max_rows: int) -> Markup | None:
    """A timeline of ``bars`` as SVG, or None with more than ``max_rows`` of them (or none
    that started)."""
    rows = [b for b in bars if b.start is not None]
    if not rows or len(rows) > max_rows:
        return None
    t0 = min(b.start for b in rows if b.start)
    t1 = max((b.end or now) for b in rows)
    span = max((t1 - t0).total_seconds(), 1e-3)
    height = PAD * 2 + 18 + len(rows) * ROW_H
    width = LABEL_W + CHART_W + PAD * 2
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="gantt" width="{width}" '
           f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="timeline of {len(rows)} node executions">']
    for i in range(5):  # time axis: five ticks
        x = LABEL_W + CHART_W * i / 4
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"
        out.append(f'<line x1="{x:.0f}" y1="{PAD}" x2="{x:.0f}" y2="{height - PAD}" '
                   'stroke="#e0e0e0"/>'
                   f'<text x="{x:.0f}" y="{PAD + 10}" class="tick" text-anchor="{anchor}">'
                   f'{_fmt(span * i / 4)}</text>')
    for i, b in enumerate(rows):
        assert b.start is not None
        y = PAD + 18 + i * ROW_H
        x = LABEL_W + CHART_W * (b.start - t0).total_seconds() / span
        end = b.end or now
        w = max(2.0, CHART_W * (end - b.start).total_seconds() / span)
        colour = COLOURS.get(b.status, IDLE)
        dur = (end - b.start).total_seconds()
        out.append(f'<g class="bar" data-node="{escape(b.node_id)}" '
                   f'data-status="{escape(b.status)}"><title>{escape(b.node_id)} '
                   f'({escape(b.block_id)}) {escape(b.status)}: {_fmt(dur)}</title>'
                   f'<text x="{PAD}" y="{y + 15}" class="label">{escape(b.node_id[:26])}</text>'
                   f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{ROW_H - 6}" '
                   f'rx="3" fill="{colour}"/></g>')
    out.append("</svg>")
    return Markup("".join(out))


def _fmt(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"
