"""Representations of molecules and their densities: voxels, images, point clouds."""
