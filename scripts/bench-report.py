#!/usr/bin/python3
"""Turn hmm-bench's BENCH lines of several boots into a table and build/bench.json.

usage: bench-report.py [--qtest QTEST_OUTPUT] --json JSON_OUT BENCH_OUTPUT...
                       (one BENCH_OUTPUT a boot; REFERENCE=test_hmm and
                       SUBJECT=virtio-hmm unless --ref/--sub say otherwise)

Per row and boot: the ratio subject/reference of the two medians (for
throughputs higher is better, for costs lower is better) and, for
throughputs, the subject's fraction of that boot's memcpy bandwidth. The
table shows the median of those over the boots with their min..max; a row
whose ratio spreads by more than WIDE (max - min over the median) is marked
"wide": it cannot tell a change of that size from noise. Then the goals of
issue 15, each met or missed on the median, with a note where the spread
crosses the goal.

--qtest: the BENCH lines of scripts/bench-qtest.sh (the QEMU device's
request handling through qtest, sizes in pages) make a second table and
the "qtest" key of the JSON; each row also shows the time of a request and
how much longer it takes than GET_STATS, the harness's floor.
"""
import json
import re
import sys

LINE = re.compile(r"BENCH (.*)")


def bench_lines(src):
    """The fields of every BENCH line in file SRC"""
    for line in open(src, errors="replace"):
        m = LINE.search(line.replace("\r", ""))
        if not m:
            continue
        f = dict(kv.split("=", 1) for kv in m.group(1).split())
        for k in ("median", "min", "max"):
            f[k] = float(f[k])
        yield f


def qtest_table(src):
    """Rows of bench-qtest.sh's output, with the time of a request"""
    table = [{"test": f["test"], "size": int(f["size"]), "size_unit": "pages",
              "unit": f["unit"], "device": f["device"],
              **{k: f[k] for k in ("median", "min", "max")},
              "runs": int(f["runs"])}
             for f in bench_lines(src)]
    if not table:
        sys.exit("bench-report: no results in %s" % src)
    floor = next((r for r in table if r["test"] == "get_stats"), None)
    for r in table:
        if r["unit"] == "req/s" and r["median"] > 0:
            r["us_per_req"] = 1e6 / r["median"]
            if floor and floor["median"] > 0:
                r["us_over_get_stats"] = r["us_per_req"] - 1e6 / floor["median"]
    return table


def print_qtest(table):
    print()
    print("QEMU device request handling (qtest)")
    head = "| test | pages | unit | median (min..max) | runs | us/req | over get_stats |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in table:
        print("| %s | %d | %s | %.4g (%.4g..%.4g) | %s | %s | %s |" % (
            r["test"], r["size"], r["unit"], r["median"], r["min"], r["max"],
            r["runs"], "%.0f" % r["us_per_req"] if "us_per_req" in r else "-",
            "%+.0f us" % r["us_over_get_stats"] if "us_over_get_stats" in r else "-"))


WIDE = 0.3

MIGRATE_ROWS = ("migrate_to_dev", "migrate_back_ioctl", "migrate_back_cpu")
KIB, MIB = 1 << 10, 1 << 20

# issue 15's goals: (what, rows it covers, key, op, limit). key "ratio" is
# subject/reference; "memcpy" the subject's fraction of the guest's memcpy.
GOALS = (
    [("%s %s >= 1.0x" % (t, "%d KiB" % (n // KIB) if n < MIB else "%d MiB" % (n // MIB)),
      [(t, n)], "ratio", ">=", 1.0)
     for n in (64 * KIB, 2 * MIB, 64 * MIB) for t in MIGRATE_ROWS] +
    [("migrate_to_dev 64 MiB >= 50% of memcpy", [("migrate_to_dev", 64 * MIB)], "memcpy", ">=", 0.5),
     ("migrate_back_ioctl 64 MiB >= 50% of memcpy", [("migrate_back_ioctl", 64 * MIB)], "memcpy", ">=", 0.5),
     ("migrate_back_cpu 64 MiB >= 50% of memcpy", [("migrate_back_cpu", 64 * MIB)], "memcpy", ">=", 0.5),
     ("read_mirrored >= 1.0x", [("read_mirrored", 2 * MIB)], "ratio", ">=", 1.0),
     ("fault_cost <= 1.5x", [("fault_cost", 2 * MIB)], "ratio", "<=", 1.5),
     ("op_roundtrip <= 3x", [("op_roundtrip", 4 * KIB)], "ratio", "<=", 3.0),
     ("exclusive_roundtrip <= 3x", [("exclusive_roundtrip", 2 * MIB)], "ratio", "<=", 3.0),
     ("migrate_thp 2 MiB >= 1.5x", [("migrate_thp", 2 * MIB)], "ratio", ">=", 1.5),
     ("migrate_thp 64 MiB >= 1.5x", [("migrate_thp", 64 * MIB)], "ratio", ">=", 1.5)])


def spread(values):
    """median, min, max of VALUES and (max - min) / median"""
    v = sorted(values)
    n = len(v)
    med = v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
    return {"median": med, "min": v[0], "max": v[-1],
            "spread": (v[-1] - v[0]) / med if med else 0.0}


def one_boot(src, ref, sub):
    """rows {(test, size): {device: fields}} and memcpy's fields of one boot"""
    rows, memcpy = {}, None
    for f in bench_lines(src):
        if f["test"] == "memcpy":
            memcpy = f
        else:
            rows.setdefault((f["test"], int(f["size"])), {})[f["device"]] = f
    if memcpy is None or not rows:
        sys.exit("bench-report: no results in %s" % src)
    return rows, memcpy


def main():
    args = sys.argv[1:]
    qtest_src = out = None
    ref, sub = "test_hmm", "virtio-hmm"
    while args and args[0].startswith("--"):
        opt, val, args = args[0], args[1], args[2:]
        if opt == "--qtest":
            qtest_src = val
        elif opt == "--json":
            out = val
        elif opt == "--ref":
            ref = val
        elif opt == "--sub":
            sub = val
        else:
            sys.exit("bench-report: unknown option %s" % opt)
    if not out or not args:
        sys.exit(__doc__)
    boots = [one_boot(src, ref, sub) for src in args]

    keys = []
    for rows, _ in boots:
        keys += [k for k in rows if k not in keys]
    table = []
    for test, size in keys:
        per_boot = []
        unit = None
        for rows, memcpy in boots:
            devs = rows.get((test, size), {})
            if not devs:
                continue
            unit = next(iter(devs.values()))["unit"]
            b = {"devices": {d: {k: v[k] for k in ("median", "min", "max", "runs")}
                             for d, v in devs.items()}}
            if ref in devs and sub in devs and devs[ref]["median"] > 0:
                b["ratio"] = devs[sub]["median"] / devs[ref]["median"]
            if unit.endswith("/s") and sub in devs:
                b["fraction_of_memcpy"] = devs[sub]["median"] / memcpy["median"]
            per_boot.append(b)
        row = {"test": test, "size": size, "unit": unit,
               "higher_is_better": unit.endswith("/s"), "boots": per_boot}
        for key in ("ratio", "fraction_of_memcpy"):
            vals = [b[key] for b in per_boot if key in b]
            if vals:
                row[key] = spread(vals)
        for d in (ref, sub):
            vals = [b["devices"][d]["median"] for b in per_boot if d in b["devices"]]
            if vals:
                row.setdefault("devices", {})[d] = spread(vals)
        row["wide"] = "ratio" in row and row["ratio"]["spread"] > WIDE
        table.append(row)

    goals = []
    by_key = {(r["test"], r["size"]): r for r in table}
    for what, covers, key, op, limit in GOALS:
        r = by_key.get(covers[0])
        k = {"ratio": "ratio", "memcpy": "fraction_of_memcpy"}[key]
        if r is None or k not in r:
            goals.append({"goal": what, "status": "not measured"})
            continue
        v = r[k]
        ok = v["median"] >= limit if op == ">=" else v["median"] <= limit
        crosses = v["min"] < limit < v["max"]
        goals.append({"goal": what, "status": "met" if ok else "missed",
                      "median": v["median"], "min": v["min"], "max": v["max"],
                      "spread_crosses_goal": crosses})

    memcpys = [m["median"] for _, m in boots]
    result = {"boots": len(boots), "memcpy_mib_s": memcpys, "reference": ref,
              "subject": sub, "wide": WIDE, "rows": table, "goals": goals}
    qtable = qtest_table(qtest_src) if qtest_src else None
    if qtable is not None:
        result["qtest"] = qtable
    with open(out, "w") as f:
        json.dump(result, f, indent=1)

    def fmt(d, scale=1.0, suffix=""):
        if not d:
            return "-"
        return "%.3g%s (%.3g..%.3g)" % (d["median"] * scale, suffix,
                                        d["min"] * scale, d["max"] * scale)

    def human(n):
        return "%d MiB" % (n >> 20) if n >= 1 << 20 else "%d KiB" % (n >> 10)

    print("%d boots; guest memcpy: %s MiB/s per boot" % (
        len(boots), ", ".join("%.0f" % m for m in memcpys)))
    print("medians over the boots (min..max); ratio %s/%s per boot, then over boots; "
          "wide: the ratio spreads by more than %d%% of its median" % (sub, ref, WIDE * 100))
    head = "| test | size | unit | %s | %s | %s/%s | by boot | of memcpy | |" % (ref, sub, sub, ref)
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in table:
        d = r.get("devices", {})
        print("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["test"], human(r["size"]), r["unit"], fmt(d.get(ref)), fmt(d.get(sub)),
            fmt(r.get("ratio"), suffix="x"),
            " ".join("%.2f" % b["ratio"] for b in r["boots"] if "ratio" in b) or "-",
            fmt(r.get("fraction_of_memcpy"), 100, "%"),
            "wide" if r["wide"] else ""))
    print()
    print("Goals (issue 15), on the median over %d boots" % len(boots))
    print("| goal | median (min..max) | status |")
    print("|---|---|---|")
    for g in goals:
        if "median" not in g:
            print("| %s | - | %s |" % (g["goal"], g["status"]))
            continue
        pct = "memcpy" in g["goal"]
        print("| %s | %s | %s%s |" % (
            g["goal"], fmt(g, 100 if pct else 1, "%" if pct else "x"), g["status"],
            " (spread crosses the goal)" if g["spread_crosses_goal"] else ""))
    met = sum(g["status"] == "met" for g in goals)
    print("goals: %d met, %d missed, %d not measured" % (
        met, sum(g["status"] == "missed" for g in goals),
        sum(g["status"] == "not measured" for g in goals)))
    if qtable is not None:
        print_qtest(qtable)
    print("written: %s" % out)


if __name__ == "__main__":
    main()
