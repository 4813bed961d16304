"""Joining a PyTorch distributed run started by ``torchrun`` (standard DDP, no own cluster code).

``torchrun --nproc_per_node N -m rhoml.cli train ...`` sets ``WORLD_SIZE``, ``RANK`` and
``LOCAL_RANK``; :func:`init_from_env` then initialises the default process group (NCCL on CUDA,
gloo on CPU) and pins each rank to its GPU. :func:`rhoml.train.loop.fit` wraps the model in
``DistributedDataParallel`` and shards the training set whenever a group is initialised.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


def init_from_env() -> bool:
    """Initialise the process group described by torchrun's environment (``WORLD_SIZE`` > 1).
    Returns True when running distributed; no-op (False) for a plain single-process run."""
    import torch
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or not dist.is_available():
        return False
    if dist.is_initialized():
        return True
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend="nccl" if cuda else "gloo")
    return True


def is_main_process() -> bool:
    """True unless this is a non-zero rank of an initialised process group."""
    import torch.distributed as dist

    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


@contextmanager
def rank0_first() -> Iterator[None]:
    """Run the enclosed block on rank 0 first, then on the other ranks (e.g. filling a store
    cache that the others then read); a plain block when not distributed."""
    import torch.distributed as dist

    active = dist.is_available() and dist.is_initialized()
    main = is_main_process()
    if active and not main:
        dist.barrier()
    yield
    if active and main:
        dist.barrier()


def shutdown() -> None:
    """Leave the process group if one is initialised."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
