#!/usr/bin/env python3
"""Scores what hack/bench-mysql.sh recorded: prints the markdown table, writes the SVG.

Reads from OUT: configs.tsv (name, monitor, window, epoch, ratio), containers.tsv (name, phase,
id), sessions.tsv (name, phase, kind, start_ms, end_ms, what), runs/<id>.epochs.jsonl (the
monitors' per-epoch records), events.jsonl, throughput.tsv (mode, round, seconds).

An epoch covers the time from the end of the previous epoch of its container to its own end
(`at_ms`). It is an attack epoch if that span overlaps an sqlmap session (extended by GRACE_MS
after the session's end, for the server's work on a closing connection), else normal. An attack
session is detected if one of its attack epochs is anomalous; the time to detect is from the
session's start (sqlmap's own start included) to the end of the first anomalous epoch, and "epochs
to detect" counts the attack epochs before that one (0: the first epoch that saw the attack).
Thresholds other than the live one are applied offline to the same mismatch counts (exact, since
continuous training is off).
"""

import argparse
import datetime
import json
import math
import os
import statistics
import sys

GRACE_MS = 1000
SWEEP = [0.001, 0.005, 0.01, 0.02, 0.05]


def tsv(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.rstrip("\n").split("\t") for line in f if line.strip()]


def jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def fmt_ratio(r):
    return f"{r * 100:g}%"


def label(epochs, attacks):
    """(epoch, kind, session index or None) for each epoch record."""
    out = []
    prev = None
    for e in epochs:
        start = prev if prev is not None else e["at_ms"] - 1
        end = e["at_ms"]
        hit = None
        for i, (a0, a1) in enumerate(attacks):
            if start < a1 + GRACE_MS and end >= a0:
                hit = i
                break
        out.append((e, "attack" if hit is not None else "normal", hit))
        prev = end
    return out


def event_ms(event):
    t = datetime.datetime.strptime(event["time"].rstrip("Z"), "%Y-%m-%dT%H:%M:%S.%f")
    return int(t.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)


def in_attack(ms, attacks):
    return any(a0 <= ms <= a1 + GRACE_MS for a0, a1 in attacks)


def session_alarms(labelled, attacks, evts):
    """Per alarm source, the time (ms from each attack session's start) it was first raised for that
    session (None: never), and the normal epochs it flagged. Sources: `bags` (anomalous epochs),
    `resources` (unseen-resource events), `both` (anything the monitor raises: anomalous epochs,
    unseen resources, unseen syscalls)."""
    kinds = {"bags": (), "resources": ("unseen-resource",), "both": ("unseen-resource", "unseen-syscall")}
    out = {}
    for source, event_kinds in kinds.items():
        use_epochs = source != "resources"
        ev_ms = [t for k, t in evts if k in event_kinds]
        ttd = []
        for i, (a0, a1) in enumerate(attacks):
            times = [t - a0 for t in ev_ms if a0 <= t <= a1 + GRACE_MS]
            if use_epochs:
                times += [e["at_ms"] - a0 for e, k, j in labelled if k == "attack" and j == i and e["anomalous"]]
            ttd.append(max(0, min(times)) if times else None)
        flagged, prev = 0, None
        normal = 0
        for e, k, _ in labelled:
            lo = prev if prev is not None else e["at_ms"] - 1
            prev = e["at_ms"]
            if k != "normal":
                continue
            normal += 1
            hit = use_epochs and e["anomalous"]
            hit = hit or any(lo < t <= e["at_ms"] for t in ev_ms)
            flagged += hit
        out[source] = {"ttd": ttd, "normal_flagged": flagged, "normal_epochs": normal}
    return out


def score(labelled, attacks, ratio):
    """The paper's rule at another threshold, applied offline to the epochs' mismatch counts."""
    flagged = lambda e: e["mismatches"] > ratio * e["windows"]  # noqa: E731
    attack_epochs = [(e, i) for e, k, i in labelled if k == "attack"]
    normal_epochs = [e for e, k, _ in labelled if k == "normal"]
    detected, ttd_ms = 0, []
    for i, (a0, a1) in enumerate(attacks):
        for e, j in attack_epochs:
            if j == i and flagged(e):
                detected += 1
                ttd_ms.append(max(0, e["at_ms"] - a0))
                break
    return {
        "detected": detected,
        "normal_flagged": sum(flagged(e) for e in normal_epochs),
        "normal_epochs": len(normal_epochs),
        "ttd_ms": ttd_ms,
    }


def fmt_ttd(ms):
    return f"{statistics.median(ms) / 1000:.2f} s / {max(ms) / 1000:.2f} s" if ms else "–"


def svg(path, labelled, attacks, names, title):
    """Mismatches per epoch over time (log scale), attack sessions shaded, threshold line."""
    if not labelled:
        return
    w, h, left, right, top, bottom = 960, 380, 60, 20, 50, 50
    t0 = min([labelled[0][0]["at_ms"]] + [a for a, _ in attacks])
    t1 = max([labelled[-1][0]["at_ms"]] + [b for _, b in attacks])
    span = max(1, t1 - t0)
    ymax = max(max(e["mismatches"] for e, _, _ in labelled), max(e["threshold"] for e, _, _ in labelled), 10)
    ymax = 10 ** math.ceil(math.log10(ymax))  # the top tick is a power of ten
    ly = lambda v: math.log10(1 + v)  # noqa: E731
    x = lambda t: left + (t - t0) / span * (w - left - right)  # noqa: E731
    y = lambda v: top + (1 - ly(v) / ly(ymax)) * (h - top - bottom)  # noqa: E731
    p = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
        'font-family="sans-serif" font-size="11">',
        f'<rect width="{w}" height="{h}" fill="white"/>',
        f'<text x="{left}" y="20" font-size="13" font-weight="bold">{title}</text>',
    ]
    for (a0, a1), name in zip(attacks, names):
        p.append(
            f'<rect x="{x(a0):.1f}" y="{top}" width="{max(1.0, x(a1) - x(a0)):.1f}" '
            f'height="{h - top - bottom}" fill="#f4b6b6" opacity="0.6"><title>{name}</title></rect>'
        )
    tick = 1
    while tick <= ymax:
        p.append(f'<line x1="{left}" x2="{w - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#eee"/>')
        p.append(f'<text x="{left - 5}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick}</text>')
        tick *= 10
    p.append(f'<text x="{left - 5}" y="{y(0) + 4:.1f}" text-anchor="end">0</text>')
    secs = span / 1000
    step = next(s for s in (10, 20, 30, 60, 120, 300, 600, 1e9) if secs / s <= 12)
    t = 0
    while t <= secs:
        xx = x(t0 + t * 1000)
        p.append(f'<line x1="{xx:.1f}" x2="{xx:.1f}" y1="{h - bottom}" y2="{h - bottom + 4}" stroke="black"/>')
        p.append(f'<text x="{xx:.1f}" y="{h - bottom + 16}" text-anchor="middle">{t:g}</text>')
        t += step
    p.append(f'<text x="{(w + left) / 2}" y="{h - 12}" text-anchor="middle">seconds since the detecting container started</text>')
    p.append(
        f'<text transform="translate(14 {(h - bottom + top) / 2}) rotate(-90)" text-anchor="middle">'
        "unknown bags per epoch</text>"
    )
    p.append(f'<rect x="{left}" y="{top}" width="{w - left - right}" height="{h - top - bottom}" fill="none" stroke="black"/>')
    # Each epoch is drawn over the time it covered (from the end of the one before to its own end).
    spans, prev = [], None
    for e, _, _ in labelled:
        spans.append((prev if prev is not None else e["at_ms"], e["at_ms"], e))
        prev = e["at_ms"]
    step = lambda key: " ".join(  # noqa: E731
        f'{x(a):.1f},{y(e[key]):.1f} {x(b):.1f},{y(e[key]):.1f}' for a, b, e in spans
    )
    p.append(f'<polyline points="{step("threshold")}" fill="none" stroke="#d62728" stroke-dasharray="4 3"/>')
    p.append(f'<polyline points="{step("mismatches")}" fill="none" stroke="#1f77b4" stroke-width="1"/>')
    for a, b, e in spans:
        if e["anomalous"]:
            p.append(
                f'<line x1="{x(a):.1f}" x2="{max(x(b), x(a) + 2):.1f}" y1="{y(e["mismatches"]):.1f}" '
                f'y2="{y(e["mismatches"]):.1f}" stroke="#d62728" stroke-width="3"/>'
            )
    lx = left
    p.append(f'<rect x="{lx}" y="26" width="14" height="10" fill="#f4b6b6"/><text x="{lx + 18}" y="35">sqlmap session</text>')
    p.append(f'<line x1="{lx + 110}" x2="{lx + 130}" y1="31" y2="31" stroke="#d62728" stroke-dasharray="4 3"/>'
             f'<text x="{lx + 134}" y="35">threshold</text>')
    p.append(f'<line x1="{lx + 200}" x2="{lx + 220}" y1="31" y2="31" stroke="#1f77b4"/>'
             f'<text x="{lx + 224}" y="35">unknown bags in the epoch</text>')
    p.append(f'<line x1="{lx + 380}" x2="{lx + 400}" y1="31" y2="31" stroke="#d62728" stroke-width="3"/>'
             f'<text x="{lx + 404}" y="35">anomalous epoch</text>')
    p.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(p) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--queries", type=int, default=20000)
    ap.add_argument("--elapsed", type=int, default=0)
    ap.add_argument("--ptrace-note", default="")
    args = ap.parse_args()
    out = args.out
    # name, monitor, window, epoch, threshold (a ratio, or backoffN), T in ms (older runs: none)
    configs = [c + ["1000"] * (6 - len(c)) for c in tsv(os.path.join(out, "configs.tsv"))]
    containers = {(n, ph): cid for n, ph, cid in tsv(os.path.join(out, "containers.tsv"))}
    sessions = tsv(os.path.join(out, "sessions.tsv"))
    events = jsonl(os.path.join(out, "events.jsonl"))
    ptrace = open(os.path.join(out, "ptrace-available")).read().strip() == "yes"
    na = "n/a (ptrace monitor unavailable)"

    # containers.tsv phases: learn, detect-1 … detect-N (one detection run each)
    runs_of = {}
    for (n, ph), cid in containers.items():
        if ph.startswith("detect"):
            runs_of.setdefault(n, []).append((ph, cid))

    print("### Detection: MariaDB under mysqlslap (normal) and sqlmap (attacks)\n")
    print(
        "| setting | monitor | W | E | T | anomalous above | alarms from | attack sessions detected "
        "| normal epochs flagged (FP) | time to detect, median / max | sessions detected within 1 s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    plots = {}
    notes = []
    offline_rows = []
    for name, monitor, window, epoch, threshold, epoch_ms in configs:
        backoff = threshold.startswith("backoff")
        shown = f"mean {threshold[len('backoff'):]} nats (back-off)" if backoff else fmt_ratio(float(threshold))
        totals = {k: {"ttd": [], "normal_flagged": 0, "normal_epochs": 0} for k in ("bags", "resources", "both")}
        offline = {r: {"detected": 0, "attacks": 0, "normal_flagged": 0, "normal_epochs": 0, "ttd_ms": []} for r in SWEEP}
        n_attacks = 0
        for phase, cid in sorted(runs_of.get(name, [])):
            epochs = jsonl(os.path.join(out, "runs", f"{cid}.epochs.jsonl"))
            mine = [s for s in sessions if s[0] == name and s[1] == phase]
            attacks = [(int(s[3]), int(s[4])) for s in mine if s[2] == "attack"]
            names = [s[5] for s in mine if s[2] == "attack"]
            n_attacks += len(attacks)
            labelled = label(epochs, attacks)
            ev = [e for e in events if e.get("container") == cid]
            evts = [(e.get("kind"), event_ms(e)) for e in ev]
            for source, r in session_alarms(labelled, attacks, evts).items():
                t = totals[source]
                t["ttd"] += r["ttd"]
                t["normal_flagged"] += r["normal_flagged"]
                t["normal_epochs"] += r["normal_epochs"]
            unlogged = 0
            if monitor == "ebpf":
                # the kernel logs only epochs with an unknown bag: every other epoch was normal
                final = os.path.join(out, "runs", f"{cid}.final.json")
                if os.path.exists(final):
                    with open(final) as f:
                        kernel = json.load(f).get("state", {}).get("supervisor", {}).get("kernel", {})
                    attack_logged = sum(1 for _, k, _ in labelled if k == "attack")
                    unlogged = max(0, kernel.get("epochs", 0) - len(epochs))
                    for t in totals.values():
                        t["normal_epochs"] += unlogged
                    notes.append(f"{name} {phase}: {len(epochs)} epochs logged of {kernel.get('epochs')} "
                                 f"(the kernel logs only epochs with an unknown bag); {attack_logged} logged in attacks")
            if not backoff:
                for r in SWEEP:
                    o, sc = offline[r], score(labelled, attacks, r)
                    o["detected"] += sc["detected"]
                    o["attacks"] += len(attacks)
                    o["normal_flagged"] += sc["normal_flagged"]
                    o["normal_epochs"] += sc["normal_epochs"] + unlogged
                    o["ttd_ms"] += sc["ttd_ms"]
            plots[f"{name}-{phase}"] = (labelled, attacks, names, window, epoch, shown, monitor)
            for e in ev:
                if e.get("kind") in ("unseen-syscall", "unseen-resource"):
                    t = event_ms(e)
                    during = [n for (a0, a1), n in zip(attacks, names) if a0 <= t <= a1 + GRACE_MS]
                    what = e.get("resource") or ", ".join(e.get("syscalls", []))
                    notes.append(
                        f"{name} {phase}: {e['kind']} {what} "
                        f"{'during ' + during[0] if during else 'outside the attacks'}"
                    )
            notes.append(
                f"{name} {phase}: {sum(1 for e in ev if e.get('kind') == 'anomaly')} anomaly events; "
                f"{len(epochs)} epochs logged, {len([s for s in mine if s[2] == 'normal'])} "
                f"mysqlslap and {len(attacks)} sqlmap sessions"
            )
        for source in ("bags", "resources", "both"):
            t = totals[source]
            hit = [x for x in t["ttd"] if x is not None]
            fp = t["normal_flagged"] / t["normal_epochs"] if t["normal_epochs"] else 0
            print(
                f"| {name} | {monitor} | {window} | {epoch} | {epoch_ms} ms | {shown} | {source} "
                f"| {len(hit)}/{n_attacks} | {t['normal_flagged']}/{t['normal_epochs']} ({fp * 100:.2f}%) "
                f"| {fmt_ttd(hit)} | {sum(1 for x in hit if x <= 1000)}/{n_attacks} |"
            )
        if not backoff:
            for r in SWEEP:
                o = offline[r]
                fp = o["normal_flagged"] / o["normal_epochs"] if o["normal_epochs"] else 0
                offline_rows.append(
                    f"| {name} | {window} | {epoch} | {epoch_ms} ms | > {fmt_ratio(r)} "
                    f"| {o['detected']}/{o['attacks']} | {o['normal_flagged']}/{o['normal_epochs']} ({fp * 100:.2f}%) "
                    f"| {fmt_ttd(o['ttd_ms'])} |"
                )
    if not ptrace:
        print(f"| ptrace | ptrace | 10 | 1000 | | | | {na} | {na} | {na} | {na} |")
    print(
        "\n(alarms from: bags = anomalous epochs only; resources = unseen-resource events only; both = "
        "every alarm the monitor raises, unseen syscalls included. Summed over the detection runs.)"
    )
    if offline_rows:
        print("\n### The paper's rule at other thresholds (bags only, applied offline to the same epochs)\n")
        print("| setting | W | E | T | anomalous above | attack sessions detected | normal epochs flagged | time to detect, median / max |")
        print("|---|---|---|---|---|---|---|---|")
        for row in offline_rows:
            print(row)
    print()
    for n in notes:
        print(f"- {n}")
    if not ptrace and args.ptrace_note:
        print(f"- ptrace: {args.ptrace_note}")

    tp = {}
    for mode, _, secs in tsv(os.path.join(out, "throughput.tsv")):
        if secs:
            tp.setdefault(mode, []).append(float(secs))
    print(f"\n### mysqlslap throughput (mixed, {args.queries} queries, concurrency 8; median of the rounds)\n")
    print("| runtime | median s | min s | queries/s | × runc | × null (floor) |")
    print("|---|---|---|---|---|---|")
    med = {m: statistics.median(v) for m, v in tp.items()}
    labels = {
        "runc": "plain runc",
        "null": "ids-runc, null monitor (the floor)",
        "notify": "ids-runc detect, seccomp-notify",
        "ptrace": "ids-runc detect, ptrace",
        "ebpf": "ids-runc detect, ebpf",
    }
    for mode in ("runc", "null", "notify", "ptrace", "ebpf"):
        if mode not in tp:
            print(f"| {labels[mode]} | {na if mode == 'ptrace' and not ptrace else 'n/a (not run)'} | | | | |")
            continue
        m = med[mode]
        rel = lambda base: f"{med[base] / m:.2f}" if base in med else "–"  # noqa: E731
        print(
            f"| {labels[mode]} ({len(tp[mode])} runs) | {m:.3f} | {min(tp[mode]):.3f} | {args.queries / m:.0f} "
            f"| {rel('runc')} | {rel('null')} |"
        )
    print("\n(× columns: throughput relative to that runtime; 1.00 = as fast.)")
    if args.elapsed:
        print(f"\nWhole run: {args.elapsed // 60} min {args.elapsed % 60} s.")

    for name, (labelled, attacks, names, window, epoch, shown, monitor) in plots.items():
        svg(
            os.path.join(out, f"{name}-score.svg"),
            labelled,
            attacks,
            names,
            f"{name}: {monitor}, W={window}, E={epoch}, anomalous above {shown}",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
