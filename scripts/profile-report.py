#!/usr/bin/python3
"""Split hmm-bench's ioctls into device requests and guest work.

usage: profile-report.py TRACE_OUTPUT   (scripts/profile.sh's guest output)

The input has "=== phase ARGS" headers, each followed by a tracefs trace
with hmm-bench's trace_marker lines ("ioctl begin"/"ioctl end") and the
driver's vhmm_req_submit/vhmm_req_done/vhmm_req_wake events. For every
ioctl (begin to end of one task): total time, the time its requests were
out (submit -> done: the kick's VM exit, the device, its used-buffer
notification, the interrupt), the wake-ups (done -> wake: the scheduler),
and the rest, the guest's own work (building requests, page walks,
migrate_vma, locks). Medians per phase and per request sequence; then the
median submit -> done per request type.

"=== graph ARGS" sections (FLAVOUR=bench: function_graph output for the
ioctl entry points of both drivers) give, per driver and kind of ioctl
(named after the driver function its entry point called), the mean time of
one ioctl and of every function it called down to the graph's depth, in
call order, those above 2% of the ioctl.
"""
import re
import statistics
import sys

EV = re.compile(r"^\s*(?P<task>.+?-\d+)\s+\[\d+\]\s+\S+\s+(?P<ts>\d+\.\d+): "
                r"(?P<ev>[a-z_]+): (?P<rest>.*)$")


def med(v):
    return statistics.median(v) if v else 0.0


def phases(src):
    name, lines = None, []
    for line in open(src, errors="replace"):
        line = line.rstrip("\r\n")
        if line.startswith(("=== phase ", "=== graph ")):
            if name:
                yield name, lines
            name, lines = line[4:], []
        elif name:
            lines.append(line)
    if name:
        yield name, lines


def ioctls(lines):
    """per ioctl: (total, [(type, submit->done, done->wake or None)])"""
    open_by_task, submits, reqs = {}, {}, {}
    out = []
    for line in lines:
        m = EV.match(line)
        if not m:
            continue
        ts, ev, rest, task = float(m["ts"]), m["ev"], m["rest"], m["task"]
        if ev == "tracing_mark_write":
            if rest.endswith("ioctl begin"):
                open_by_task[task] = (ts, [])
            elif rest.endswith("ioctl end") and task in open_by_task:
                t0, rs = open_by_task.pop(task)
                out.append((ts - t0, rs))
            continue
        f = dict(kv.split("=", 1) for kv in rest.split() if "=" in kv)
        req = f.get("req")
        if ev == "vhmm_req_submit":
            r = {"type": f.get("type"), "submit": ts, "done": None, "wake": None}
            reqs[req] = r
            if task in open_by_task:
                open_by_task[task][1].append(r)
        elif ev == "vhmm_req_done" and req in reqs and reqs[req]["done"] is None:
            reqs[req]["done"] = ts
        elif ev == "vhmm_req_wake" and req in reqs and reqs[req]["wake"] is None:
            reqs[req]["wake"] = ts
    return out


GRAPH = re.compile(r"^\s*\d+\)\s+(?:[+!#*@$]\s*)?(?P<dur>[\d.]+)?\s*(?:us)?\s*\|(?P<ind>\s*)(?P<body>.*)$")


def graph_calls(lines):
    """top-level calls: (name, duration us, [(depth, name, duration us)])"""
    calls, stack = [], []
    for line in lines:
        m = GRAPH.match(line)
        if not m:
            continue
        depth = len(m["ind"]) // 2
        body = m["body"].strip()
        dur = float(m["dur"]) if m["dur"] else None
        name = re.sub(r"\s*\[[^]]*\]", "", body)
        if body.endswith("{"):
            stack.append([name[:-len("() {")].strip(), depth, []])
        elif body.startswith("}"):
            if not stack:
                continue
            fname, d, children = stack.pop()
            if stack:
                stack[-1][2].append((d, fname, dur or 0.0))
                stack[-1][2].extend(children)
            else:
                calls.append((fname, dur or 0.0, children))
        elif body.endswith(");") and stack:
            stack[-1][2].append((depth, name[:-len("();")].strip(), dur or 0.0))
    return calls


def print_graph(name, lines):
    kinds = {}
    for top, dur, children in graph_calls(lines):
        # the kind of ioctl: the first function it called that took time
        first = next((c[1] for c in children if c[0] == 2 and c[2] > 0.2 * dur), "?")
        kinds.setdefault((top, first), []).append((dur, children))
    for (top, first), calls in sorted(kinds.items()):
        n = len(calls)
        mean = sum(c[0] for c in calls) / n
        print()
        print("%s, %s: %d calls, %.0f us each" % (name, top + " -> " + first, n, mean))
        order, acc = [], {}
        for _, children in calls:
            for d, f, t in children:
                k = (d, f)
                if k not in acc:
                    order.append(k)
                    acc[k] = 0.0
                acc[k] += t
        for d, f in order:
            t = acc[(d, f)] / n
            if t >= 0.02 * mean:
                print("  %s%-40s %8.0f us %3.0f%%" % ("  " * (d - 2), f, t, 100 * t / mean))


def main():
    graphs = []
    for name, lines in phases(sys.argv[1]):
        if name.startswith("graph "):
            graphs.append((name, lines))
    by_type = {}
    print("| phase | ioctl's requests | ioctls | total us | requests out us | wake-ups us | guest work us | guest share |")
    print("|---|---|---|---|---|---|---|---|")
    for name, lines in phases(sys.argv[1]):
        if name.startswith("graph "):
            continue
        groups = {}
        for total, rs in ioctls(lines):
            if not rs or any(r["done"] is None for r in rs):
                continue
            seq = "+".join(r["type"] for r in rs) if len(rs) <= 4 else \
                "%d requests (%s)" % (len(rs), "+".join(sorted({r["type"] for r in rs})))
            out = sum(r["done"] - r["submit"] for r in rs)
            wake = sum(r["wake"] - r["done"] for r in rs if r["wake"])
            groups.setdefault(seq, []).append((total, out, wake))
            for r in rs:
                by_type.setdefault(r["type"], []).append(r["done"] - r["submit"])
        for seq, v in sorted(groups.items(), key=lambda kv: -len(kv[1])):
            total = med([x[0] for x in v]) * 1e6
            out = med([x[1] for x in v]) * 1e6
            wake = med([x[2] for x in v]) * 1e6
            guest = total - out - wake
            print("| %s | %s | %d | %.0f | %.0f | %.0f | %.0f | %.0f%% |" % (
                name, seq, len(v), total, out, wake, guest,
                100 * guest / total if total else 0))
    print()
    print("| request | count | submit -> done us (median) | min | max |")
    print("|---|---|---|---|---|")
    for t, v in sorted(by_type.items()):
        print("| %s | %d | %.0f | %.0f | %.0f |" % (
            t, len(v), med(v) * 1e6, min(v) * 1e6, max(v) * 1e6))
    for name, lines in graphs:
        print_graph(name, lines)


if __name__ == "__main__":
    main()
