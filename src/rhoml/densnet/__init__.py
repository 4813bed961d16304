"""DenSNet-style density-first potential (seed 002).

geometry → equivariant Δ-coefficients on a promolecule prior in a flexible atom-centred Gaussian
basis → density → equivariant energy network → energy, forces (autograd), dipole (analytic).
Modules: :mod:`.basis` (aux basis, irreps, ordering), :mod:`.labels` (DFT labels as a resumable
store job), :mod:`.prior`, :mod:`.model`, :mod:`.data`, :mod:`.train`, :mod:`.metrics`.
"""
