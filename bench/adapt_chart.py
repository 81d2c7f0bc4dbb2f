#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# adapt_chart.py - the chart of docs/BENCHMARKS.md, "Limits that learn":
# requests accepted and refused per second over time, with and without
# adaptation, against each server's limit, from the arrivals that
# tests/cli/test_adapt.sh keeps in its OUT_DIR. Python's standard library
# only (it writes the SVG itself), so nothing is installed.
#
# Usage: python3 bench/adapt_chart.py OUT_DIR QUOTA WINDOW_S SVG
#   e.g. bash tests/cli/test_adapt.sh build/pacer \
#          build/mock_server/pacer-mock 2000 100 10 2000 /tmp/adapt
#        python3 bench/adapt_chart.py /tmp/adapt 100 10 docs/adapt-rate.svg
import os
import sys

PANELS = [  # (run, title, limit key)
    ("x-ratelimit", "Announced quota (X-RateLimit-*)", "quota"),
    ("ietf", "Announced quota (IETF RateLimit)", "quota"),
    ("silent", "Silent server (bare 429s)", "silent"),
]
W, PH, ML, MR, MT, GAP = 760, 190, 56, 16, 30, 46


def per_second(path, horizon):
    """Accepted and refused arrivals per second, for horizon seconds."""
    acc = [0] * horizon
    ref = [0] * horizon
    with open(path) as f:
        for line in f:
            t, r = line.split()
            s = int(float(t) / 1000)
            if s < horizon:
                (ref if r == "1" else acc)[s] += 1
    return acc, ref


def polyline(xs, ys, color, width=1.5, dash=None):
    pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys))
    d = f' stroke-dasharray="{dash}"' if dash else ""
    return (f'<polyline fill="none" stroke="{color}" stroke-width="{width}"'
            f'{d} points="{pts}"/>')


def summary(out_dir):
    """summary.tsv of test_adapt.sh: run -> (requests, refused, jobs ok,
    span s)."""
    out = {}
    path = os.path.join(out_dir, "summary.tsv")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                c = line.rstrip("\n").split("\t")
                out[c[0]] = (int(c[1]), int(c[2]), int(c[3]), float(c[4]))
    return out


def main():
    out_dir, quota, window, svg = sys.argv[1], float(sys.argv[2]), \
        float(sys.argv[3]), sys.argv[4]
    sums = summary(out_dir)
    rows = []
    for i, (run, title, kind) in enumerate(PANELS):
        on = os.path.join(out_dir, f"{run}-on.arrivals")
        off = os.path.join(out_dir, f"{run}-off.arrivals")
        limit = quota / window if kind == "quota" else 50.0
        # The span of the adapted run, whole seconds.
        last = 0.0
        with open(on) as f:
            for line in f:
                last = max(last, float(line.split()[0]))
        horizon = int(last / 1000) + 1
        a_on, r_on = per_second(on, horizon)
        a_off, r_off = per_second(off, horizon)
        top = max([limit * 2.5] + [min(x, limit * 6) for x in a_on])
        y0 = MT + i * (PH + GAP)
        pw = W - ML - MR

        def X(s):
            return ML + pw * s / horizon

        def Y(v):
            return y0 + PH - PH * min(v, top) / top

        g = [f'<text x="{ML}" y="{y0 - 8}" font-size="13" '
             f'font-weight="bold">{title}</text>',
             f'<rect x="{ML}" y="{y0}" width="{pw}" height="{PH}" '
             f'fill="none" stroke="#999"/>']
        for k in range(5):  # y grid
            v = top * k / 4
            g.append(f'<line x1="{ML}" x2="{ML + pw}" y1="{Y(v):.1f}" '
                     f'y2="{Y(v):.1f}" stroke="#eee"/>')
            g.append(f'<text x="{ML - 6}" y="{Y(v) + 4:.1f}" font-size="10" '
                     f'text-anchor="end">{v:.0f}</text>')
        step = 10 if horizon <= 120 else 20 if horizon <= 240 else 50
        for s in range(0, horizon + 1, step):
            g.append(f'<text x="{X(s):.1f}" y="{y0 + PH + 13}" font-size="10" '
                     f'text-anchor="middle">{s}</text>')
        xs = [X(s + 0.5) for s in range(horizon)]
        g.append(polyline([X(0), X(horizon)], [Y(limit)] * 2, "#444", 1,
                          "5,4"))
        g.append(polyline(xs, [Y(v) for v in a_off], "#f2a65a", 1.2))
        g.append(polyline(xs, [Y(v) for v in r_off], "#d62728", 1.2, "2,2"))
        g.append(polyline(xs, [Y(v) for v in a_on], "#1f77b4", 2))
        g.append(polyline(xs, [Y(v) for v in r_on], "#9467bd", 1.5, "2,2"))
        for k, (name, how) in enumerate(((f"{run}-on", "adapting"),
                                         (f"{run}-off", "--adapt off"))):
            if name in sums:
                n, r, ok, span = sums[name]
                g.append(f'<text x="{ML + pw - 8}" y="{y0 + 16 + 14 * k}" '
                         f'font-size="11" text-anchor="end">{how}: {r} of '
                         f'{n} requests refused, {ok} jobs succeeded, '
                         f'{span:.1f} s</text>')
        rows.append("\n".join(g))
    height = MT + len(PANELS) * (PH + GAP) + 22
    legend_y = height - 18
    legend = [("#1f77b4", "accepted/s, adapting (default)", None),
              ("#9467bd", "refused/s, adapting", "2,2"),
              ("#f2a65a", "accepted/s, --adapt off", None),
              ("#d62728", "refused/s, --adapt off (clipped)", "2,2"),
              ("#444", "the server's limit", "5,4")]
    items = []
    for i, (color, text, dash) in enumerate(legend):
        lx = ML + (i % 3) * 230
        ly = legend_y + (i // 3) * 14
        items.append(polyline([lx, lx + 18], [ly - 4] * 2, color, 2, dash))
        items.append(f'<text x="{lx + 22}" y="{ly}" font-size="10">'
                     f'{text}</text>')
    with open(svg, "w") as f:
        f.write(f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" '
                f'height="{height + 14}" font-family="sans-serif">\n'
                f'<rect width="100%" height="100%" fill="white"/>\n')
        f.write("\n".join(rows) + "\n")
        f.write("\n".join(items) + "\n")
        f.write(f'<text x="{W - MR}" y="{MT - 8 - 14}" font-size="10" '
                f'text-anchor="end">requests per second at pacer-mock; '
                f'x: seconds from the first request</text>\n')
        f.write("</svg>\n")


if __name__ == "__main__":
    main()
