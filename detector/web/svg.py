"""Server-side SVG for the case page: a ring's boost subgraph and an account's follower growth against its baseline.

Every account id and label passes through :func:`markupsafe.escape` before it enters the markup.
"""

from __future__ import annotations

import math
import time

from markupsafe import Markup, escape

DAY = 86400.0


def ring_graph(members: list[str], edges: list[list], size: int = 520) -> Markup:
    """Members on a circle, boosts as arrows; reciprocated pairs (the scheme's signature) drawn darker.

    >>> svg = ring_graph(["a", "<b>"], [["a", "<b>", 1.0], ["<b>", "a", 2.0]])
    >>> "&lt;b&gt;" in svg and "<b>" not in svg, svg.count("<line")
    (True, 2)
    """
    members = sorted(members)
    centre, radius = size / 2, size / 2 - 80
    position = {
        m: (
            centre + radius * math.cos(2 * math.pi * i / len(members) - math.pi / 2),
            centre + radius * math.sin(2 * math.pi * i / len(members) - math.pi / 2),
        )
        for i, m in enumerate(members)
    }
    pairs = {(str(e[0]), str(e[1])) for e in edges if e[0] in position and e[1] in position and e[0] != e[1]}
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" class="ring-graph" role="img" '
        f'aria-label="Boosts among {len(members)} ring members">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>',
    ]
    for src, dst in sorted(pairs):
        (x1, y1), (x2, y2) = position[src], position[dst]
        dx, dy = x2 - x1, y2 - y1
        length = math.hypot(dx, dy) or 1.0
        # Stop short of the node circles, and offset the two directions of a pair so both arrows show.
        ox, oy = -dy / length * 3, dx / length * 3
        sx, sy = x1 + dx / length * 12 + ox, y1 + dy / length * 12 + oy
        ex, ey = x2 - dx / length * 12 + ox, y2 - dy / length * 12 + oy
        mutual = (dst, src) in pairs
        parts.append(
            f'<line x1="{sx:.1f}" y1="{sy:.1f}" x2="{ex:.1f}" y2="{ey:.1f}" '
            f'class="{"edge mutual" if mutual else "edge"}" marker-end="url(#arrow)"/>'
        )
    for m, (x, y) in position.items():
        label = m if len(m) <= 18 else m[:17] + "…"
        anchor = "start" if x > centre + 1 else "end" if x < centre - 1 else "middle"
        lx = x + (14 if anchor == "start" else -14 if anchor == "end" else 0)
        ly = y + (4 if anchor != "middle" else (-14 if y < centre else 22))
        parts.append(
            f'<g class="node"><title>{escape(m)}</title><circle cx="{x:.1f}" cy="{y:.1f}" r="9"/>'
            f'<text x="{lx:.1f}" y="{ly:.1f}" text-anchor="{anchor}">{escape(label)}</text></g>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def growth_chart(history: list[dict], width: int = 620, height: int = 260) -> Markup:
    """New followers per day in each flagged burst window, next to the account's own baseline rate.

    One pair of bars per flag of the case (its revisions), in event time, so a reviewer sees how far the
    burst is from what is normal for this account and whether it kept growing.

    >>> svg = growth_chart([{"burst_window": {"start": 0, "end": 86400, "new_followers": 50, "baseline_per_day": 2}}])
    >>> "50.0/day" in svg and "2.0/day" in svg
    True
    """
    points = []
    for revision in history:
        window = revision.get("burst_window")
        if not window:
            continue
        days = max((window["end"] - window["start"]) / DAY, 1 / 24)
        points.append((window["end"], window["new_followers"] / days, window.get("baseline_per_day", 0.0)))
    if not points:
        return Markup('<p class="muted">No burst window recorded.</p>')
    points = points[-12:]
    top = max(max(rate, base) for _, rate, base in points) * 1.15 or 1.0
    left, bottom, plot_h = 50, height - 40, height - 70
    slot = (width - left - 10) / len(points)
    bar = min(40.0, slot / 3)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" class="growth-chart" role="img" '
        'aria-label="New followers per day against the baseline">',
        f'<line x1="{left}" y1="{bottom}" x2="{width - 10}" y2="{bottom}" class="axis"/>',
        f'<text x="{left - 6}" y="{bottom - plot_h + 4:.0f}" text-anchor="end" class="tick">{top:.0f}</text>',
        f'<text x="{left - 6}" y="{bottom + 4}" text-anchor="end" class="tick">0</text>',
    ]
    for i, (end, rate, base) in enumerate(points):
        x = left + slot * i + slot / 2
        for offset, value, css, name in ((-bar, base, "baseline", "baseline"), (0.0, rate, "burst", "burst")):
            h = plot_h * value / top
            parts.append(
                f'<rect x="{x + offset:.1f}" y="{bottom - h:.1f}" width="{bar:.1f}" height="{h:.1f}" class="{css}">'
                f"<title>{name}: {value:.1f}/day</title></rect>"
                f'<text x="{x + offset + bar / 2:.1f}" y="{bottom - h - 4:.1f}" text-anchor="middle" '
                f'class="value">{value:.1f}/day</text>'
            )
        day = time.strftime("%Y-%m-%d %H:%M", time.gmtime(end))
        parts.append(f'<text x="{x:.1f}" y="{bottom + 16}" text-anchor="middle" class="tick">{day}</text>')
    parts.append(
        f'<g class="legend"><rect x="{left}" y="6" width="10" height="10" class="baseline"/>'
        f'<text x="{left + 14}" y="15">own baseline</text>'
        f'<rect x="{left + 110}" y="6" width="10" height="10" class="burst"/>'
        f'<text x="{left + 124}" y="15">flagged window</text></g></svg>'
    )
    return Markup("".join(parts))
