#!/usr/bin/python3
"""Turn hmm-bench's BENCH lines into a table and build/bench.json.

usage: bench-report.py [--qtest QTEST_OUTPUT] BENCH_OUTPUT JSON_OUT
                       [REFERENCE=test_hmm] [SUBJECT=virtio-hmm]

Per row: the median (min..max) for every device, the ratio subject/reference
(for throughputs higher is better, for costs lower is better) and, for
throughputs, the fraction of the guest's memcpy bandwidth.

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


def main():
    args = sys.argv[1:]
    qtest_src = None
    if args[:1] == ["--qtest"]:
        qtest_src, args = args[1], args[2:]
    src, out = args[0], args[1]
    ref = args[2] if len(args) > 2 else "test_hmm"
    sub = args[3] if len(args) > 3 else "virtio-hmm"
    rows = {}
    memcpy = None
    for f in bench_lines(src):
        if f["test"] == "memcpy":
            memcpy = f
            continue
        rows.setdefault((f["test"], int(f["size"])), {})[f["device"]] = f

    if memcpy is None or not rows:
        sys.exit("bench-report: no results in %s" % src)

    table = []
    for (test, size), devs in rows.items():
        unit = next(iter(devs.values()))["unit"]
        higher_better = unit.endswith("/s")
        row = {"test": test, "size": size, "unit": unit,
               "higher_is_better": higher_better,
               "devices": {d: {k: v[k] for k in ("median", "min", "max", "runs")}
                           for d, v in devs.items()}}
        if ref in devs and sub in devs and devs[ref]["median"] > 0:
            row["ratio"] = devs[sub]["median"] / devs[ref]["median"]
        if higher_better and sub in devs:
            row["fraction_of_memcpy"] = devs[sub]["median"] / memcpy["median"]
        table.append(row)

    result = {"memcpy_mib_s": memcpy["median"], "reference": ref,
              "subject": sub, "rows": table}
    qtable = qtest_table(qtest_src) if qtest_src else None
    if qtable is not None:
        result["qtest"] = qtable
    with open(out, "w") as f:
        json.dump(result, f, indent=1)

    def fmt(d):
        return "%.4g (%.4g..%.4g)" % (d["median"], d["min"], d["max"]) if d else "-"

    def human(n):
        return "%d MiB" % (n >> 20) if n >= 1 << 20 else "%d KiB" % (n >> 10)

    print("guest memcpy: %.0f MiB/s (median of %s runs)" % (memcpy["median"], memcpy["runs"]))
    head = "| test | size | unit | %s | %s | %s/%s | of memcpy |" % (ref, sub, sub, ref)
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in table:
        d = r["devices"]
        print("| %s | %s | %s | %s | %s | %s | %s |" % (
            r["test"], human(r["size"]), r["unit"], fmt(d.get(ref)), fmt(d.get(sub)),
            "%.2fx" % r["ratio"] if "ratio" in r else "-",
            "%.0f%%" % (100 * r["fraction_of_memcpy"]) if "fraction_of_memcpy" in r else "-"))
    if qtable is not None:
        print_qtest(qtable)
    print("written: %s" % out)


if __name__ == "__main__":
    main()
