"""``rhoml export STORE --format csv|extxyz|ase-db --out FILE``: a store's records with their
properties and units, one row or frame per record (thin wrapper over
:func:`rhoml.store.export.export_store`)."""

from __future__ import annotations

from rhoml.commands import options

DESCRIPTION = """Write every record of STORE (one per molecule and record key; with --method,
one per molecule for that key) with the molecule's source id (QM9 index, PDB code,
<file>#<frame>), store index, record key, engine, level of theory, status, failure reason, the
molecule's labels (label_<name>) and the record's properties (energies, dipole, forces...).
csv: header 'name [unit]', arrays space-separated in one cell. extxyz (read with ase.io.read)
and ase-db (ase.db.connect): units in the key names (energy_hartree, forces_hartree_bohr) and
exactly in a 'units' entry (extxyz comment line; database metadata); records with an energy
also carry ASE's calculator convention (eV, eV/Angstrom). An existing FILE is replaced."""


def register(sub) -> None:
    p = sub.add_parser(
        "export",
        help="export a store's records with properties and units: CSV, extxyz or ASE db",
        description=DESCRIPTION,
    )
    p.add_argument("store", metavar="STORE")
    p.add_argument("--format", required=True, choices=["csv", "extxyz", "ase-db"],
                   dest="fmt", help="output format")  # fmt: skip
    options.add_out(p, "output file", required=True)
    p.add_argument("--method", default=None, metavar="KEY",
                   help="only this record key, one row per molecule (default: every "
                   "record)")  # fmt: skip
    p.set_defaults(handler=cmd_export)


def cmd_export(args) -> int:
    from rhoml.store.export import export_store

    n = export_store(args.store, args.out, args.fmt, method=args.method)
    print(f"wrote {args.out}: {n} rows ({args.fmt})")
    return 0
