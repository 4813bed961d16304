"""Geometry students: SchNet and ViSNet (torch_geometric), PaiNN and EGNN (plain torch).

Every student is a :class:`~rhoml.models.students.base.GeometryStudent`: ``model(z, pos,
batch)`` → (per-molecule outputs (B, T), per-molecule representation (B, F)); forces of
energy models by autograd (``energy_and_forces``). They are built by name from
:mod:`rhoml.models.registry` (``schnet``, ``visnet``, ``painn``, ``egnn`` and presets such as
``schnet-edg``). :mod:`rhoml.models.students.distill` holds the EDG distillation head.
"""
