#!/usr/bin/python3
"""Turn hmm-bench's BENCH lines into a table and build/bench.json.

usage: bench-report.py BENCH_OUTPUT JSON_OUT [REFERENCE=test_hmm] [SUBJECT=virtio-hmm]

Per row: the median (min..max) for every device, the ratio subject/reference
(for throughputs higher is better, for costs lower is better) and, for
throughputs, the fraction of the guest's memcpy bandwidth.
"""
import json
import re
import sys

LINE = re.compile(r"BENCH (.*)")


def main():
    src, out = sys.argv[1], sys.argv[2]
    ref = sys.argv[3] if len(sys.argv) > 3 else "test_hmm"
    sub = sys.argv[4] if len(sys.argv) > 4 else "virtio-hmm"
    rows = {}
    memcpy = None
    for line in open(src, errors="replace"):
        m = LINE.search(line.replace("\r", ""))
        if not m:
            continue
        f = dict(kv.split("=", 1) for kv in m.group(1).split())
        for k in ("median", "min", "max"):
            f[k] = float(f[k])
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

    with open(out, "w") as f:
        json.dump({"memcpy_mib_s": memcpy["median"], "reference": ref,
                   "subject": sub, "rows": table}, f, indent=1)

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
    print("written: %s" % out)


if __name__ == "__main__":
    main()
