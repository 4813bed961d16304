"""DenSNet, the density-first potential (Bogojeski et al., "Enhancing molecular dynamics with
equivariant machine-learned densities"): geometry → equivariant Δ-coefficients on a promolecule
prior in a flexible atom-centred Gaussian basis → density → equivariant energy network → energy,
forces (autograd), dipole (analytic).

Modules: :mod:`.nets` (coefficient and energy networks), :mod:`.potential` (the trained model),
:mod:`.fast` (dense per-topology evaluator for MD). The basis and prior live in
:mod:`rhoml.density.flexible_basis` and :mod:`rhoml.density.prior`, training in
:mod:`rhoml.families.densnet`.
"""
