"""Names of the quantities kept in a store, with their units (declared once, NequIP-style)."""

# molecules
POSITIONS = "positions"  # (n_atoms, 3) float64, Å
NUMBERS = "numbers"  # (n_atoms,) int64, atomic numbers
CHARGE = "charge"  # int, e
MULTIPLICITY = "multiplicity"  # int, 2S+1

# density records
DENSITY_MATRIX = "density_matrix"  # (nao, nao) float64, electrons, stored as packed lower triangle
COEFFICIENTS = "coefficients"  # (nao,) float64, electrons per normalised basis function
NUCLEAR_CHARGES = "nuclear_charges"  # (n_atoms,) float64, e

UNITS = {
    POSITIONS: "angstrom",
    NUMBERS: "dimensionless",
    CHARGE: "e",
    DENSITY_MATRIX: "e",
    COEFFICIENTS: "e",
    NUCLEAR_CHARGES: "e",
}

STATUS_OK = "ok"
STATUS_FAILED = "failed"
