"""``rhoml store migrate STORE`` (bring an old store to the current format) and ``rhoml store
schema`` (the declared quantities: name, dtype, shape rule, unit)."""

from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("store", help="store maintenance: migrate, schema")
    ssub = p.add_subparsers(dest="store_command", required=True)
    m = ssub.add_parser(
        "migrate",
        help="bring a store written by an older rhoml to the current format",
        description="Migrate STORE in place, in one transaction (format 1 -> 2: DenSNet label "
        "records get the dft engine's record key and their forces move into the record "
        "properties, in Hartree/Bohr; images rendered with --name NAME become "
        "edg_density_views/NAME or edg_structure_views/NAME). A current store is left "
        "unchanged.",
    )
    m.add_argument("store", metavar="STORE")
    m.set_defaults(handler=cmd_migrate)
    s = ssub.add_parser(
        "schema",
        help="list every quantity a store may hold: table, name, dtype, shape rule, unit",
    )
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(handler=cmd_schema)


def cmd_migrate(args) -> int:
    from rhoml.store.sqlite_store import FORMAT_VERSION, Store

    with Store.open(args.store) as st:  # opening for writing migrates
        done = st.migrated
    if done is None:
        print(f"{args.store}: already format {FORMAT_VERSION}")
    else:
        print(f"{args.store}: format {done.pop('from_format')} -> {FORMAT_VERSION}: "
              f"{done['records']} label records re-keyed, {done['forces']} forces moved into "
              f"record properties, {done['images']} image arrays renamed")  # fmt: skip
    return 0


def cmd_schema(args) -> int:
    from rhoml.store.schema import describe

    rows = describe()
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    for r in rows:
        print(f"{r['table']:<10} {r['name']:<32} {r['dtype']:<8} {r['shape']:<18} "
              f"{r['unit']:<18} {r['doc']}")  # fmt: skip
    return 0
