"""Molecular dynamics with ML potentials: NVE/Langevin driver writing trajectories with dipoles
(on the ASE calculator of :mod:`rhoml.ase`), IR spectra (dipole autocorrelation; harmonic normal
modes through ``ase.vibrations``) and reference potentials (PySCF DFT)."""
