"""Molecular dynamics with ML potentials: ASE calculator, NVE/Langevin driver writing
trajectories with dipoles, and IR spectra (dipole autocorrelation; harmonic DFT reference)."""
