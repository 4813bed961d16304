"""``rhoml info STORE``: a summary of a store (molecules, records per method, arrays,
failures)."""

from __future__ import annotations

import json


def register(sub) -> None:
    info = sub.add_parser("info", help="summarise a store")
    info.add_argument("store")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.set_defaults(handler=cmd_info)


def cmd_info(args) -> int:
    from rhoml.store.sqlite_store import Store

    with Store.open(args.store, readonly=True) as st:
        summary = st.summary()
        summary["failures"] = [
            {"index": i, "method": m, "reason": r} for i, m, r in st.failures()[:20]
        ]
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"store {summary['path']} (format {summary['format_version']}, "
          f"rhoml {summary['rhoml_version']}, {summary['bytes'] / 1e6:.1f} MB)")  # fmt: skip
    print(f"molecules: {summary['molecules']}")
    for method, e in summary["methods"].items():
        secs = e.get("mean_seconds")
        timing = f", {secs:.3f} s/molecule" if secs else ""
        print(f"  {method}: {e['ok']} ok, {e['failed']} failed ({e['level']}{timing})")
    for name, n in summary["arrays"].items():
        print(f"  array {name}: {n}")
    for f in summary["failures"]:
        print(f"  failed #{f['index']} [{f['method']}]: {f['reason']}")
    return 0
