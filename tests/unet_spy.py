"""A spy on a UNet's forward pass, shared by the batching tests."""

from __future__ import annotations


def spy_unet(monkeypatch, unet, capacity_rows=None):
    """Record the batch (rows) of every UNet call; above ``capacity_rows`` raise CUDA's
    out-of-memory error, as a GPU that fits fewer people would."""
    import torch

    rows: list[int] = []
    forward = unet.forward

    def limited(sample, *args, **kwargs):
        rows.append(int(sample.shape[0]))
        if capacity_rows is not None and sample.shape[0] > capacity_rows:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return forward(sample, *args, **kwargs)

    monkeypatch.setattr(unet, "forward", limited)
    return rows
