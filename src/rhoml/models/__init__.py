"""Models, built by name from small typed configs (:mod:`rhoml.models.registry`).

Model modules register themselves on import; :func:`rhoml.models.registry.build_model` imports
the module that defines a name on first use, so ``import rhoml.models`` does not import torch.
"""
