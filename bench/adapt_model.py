#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# adapt_model.py - a model of src/adapt.c's two loops against issue #16's
# servers, to choose its constants (docs/DESIGN.md, "Following the limits a
# server announces"). Not a measurement: one client, one key, a fixed round
# trip, the server's arithmetic exact; tests/cli/test_adapt.sh measures the
# real thing. Runs in well under a second: python3 bench/adapt_model.py
import math
import random


def announced(q, w, jobs, mode, rtt=0.0005):
    """A fixed-window quota of q per w s announcing the time to the window's
    end rounded up to whole seconds; the client spreads what remains over
    the time to the reset: 'plain' as announced, 'narrowed' as adapt.c does
    (as announced while the known interval is a second wide or more, then to
    the middle of what is left of it). Returns the accepted count per whole
    window after the first, as a share of q, and the refusals."""
    t = nxt = 0.0
    used = {}
    lo = hi = None
    refused = 0
    for _ in range(jobs):
        t = nxt
        k = int(t // w)
        n = used.get(k, 0)
        if n >= q:
            r = 0
            refused += 1
        else:
            used[k] = n + 1
            r = q - n - 1
        T = max(1, min(w, math.ceil((k + 1) * w - t - 1e-12)))
        start, now = t, t + rtt
        nlo, nhi = start + T - 1, now + T
        if lo is not None and hi > now and nlo < hi and nhi > lo:
            lo, hi = max(lo, nlo), min(hi, nhi)
        else:
            lo, hi = nlo, nhi
        end = now + T
        if mode == "narrowed":
            end = hi
            if hi - lo < 1:
                frm = max(lo, now)
                end = frm + (hi - frm) / 2
        if r == 0:
            nxt = (hi if mode == "narrowed" else now + T)
            lo = hi = None
        else:
            nxt = now + (end - now) / r
    ks = sorted(used)[1:-1]
    return sum(used[k] for k in ks) / (len(ks) * q), refused


def aimd(beta, share, rebase, limit=50.0, burst=50.0, blast=3000.0,
         dur=40.0, rtt=0.001, seed=1):
    """A token bucket of limit/s and burst refusing with a bare 429; the
    client starts at blast/s (no rate configured), cuts to beta x its rate
    on a refusal of an attempt sent after the last cut, and adds step per
    second of success: share x the rate at the first cut (rebase 0, the
    first version) or x the rate each cut was made from (rebase 1). Returns
    the accepted rate after 10 s as a share of the limit, and the share of
    requests refused over the whole run."""
    rnd = random.Random(seed)
    tokens, last = burst, 0.0
    t, rate, cut, step, raised = 0.0, None, -1.0, None, 0.0
    acc = ref = acc10 = 0
    while t < dur:
        tokens = min(burst, tokens + (t - last) * limit)
        last = t
        ok = tokens >= 1
        if ok:
            tokens -= 1
            acc += 1
            acc10 += t >= 10
        else:
            ref += 1
        now = t + rtt * (1 + rnd.random())
        if not ok and t >= cut:
            cur = rate if rate is not None else blast
            if step is None or rebase:
                step = max(cur * share, 0.1)
            rate, cut, raised = max(cur * beta, 0.1), now, now
        elif ok and rate is not None and now > raised:
            rate += step * (now - raised)
            raised = now
        t += 1.0 / (rate if rate is not None else blast)
    return acc10 / (dur - 10) / limit, ref / (acc + ref)


if __name__ == "__main__":
    print("Announced quota, accepted per window after the first (share of q):")
    print("  quota        as announced   narrowed")
    for q, w in ((100, 10), (20, 2), (40, 4)):
        p = announced(q, w, 2000 if w == 10 else 400, "plain")
        n = announced(q, w, 2000 if w == 10 else 400, "narrowed")
        print(f"  {q:3d} per {w:2d} s  {p[0]:.3f} ({p[1]} refused)  "
              f"{n[0]:.3f} ({n[1]} refused)")
    print("\nAIMD against 50/s, bare 429s (throughput after 10 s, refused):")
    print("  server burst  decrease  step            blast  thr    refused")
    for b in (50, 1):
        for beta, rebase in ((0.5, 0), (0.5, 1), (0.7, 1), (0.75, 1), (0.8, 1)):
            for blast in (1000, 3000):
                th, rf = aimd(beta, 0.1, rebase, burst=b, blast=blast)
                how = "per cut" if rebase else "first cut"
                print(f"  {b:12d}  {beta:8.2f}  {how:14s}  {blast:5d}  "
                      f"{th:.3f}  {rf:.3f}")
