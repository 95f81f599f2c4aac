"""Driving an optimizer with given gradients, for the optimizer tests."""

import torch


def run(optimizer, param, grads):
    """One optimizer step per gradient in `grads`, each set as param.grad."""
    for g in grads:
        param.grad = g.clone()
        optimizer.step()


def gradients(params, steps: int, seed: int = 1, missing=()):
    """Per step, a gradient per tensor; None for the (step, tensor) pairs in `missing`."""
    generator = torch.Generator().manual_seed(seed)
    return [[None if (step, i) in missing else torch.randn(p.shape, generator=generator).to(
        memory_format=torch.channels_last if p.dim() == 4 else torch.contiguous_format)
        for i, p in enumerate(params)] for step in range(steps)]


def train(optimizer, params, steps) -> None:
    """One optimizer step per entry of `steps` (from gradients()), each tensor's gradient set first."""
    for grads in steps:
        for p, g in zip(params, grads):
            p.grad = g
        optimizer.step()


def assert_same_weights(params, others) -> None:
    for p, q in zip(params, others):
        torch.testing.assert_close(p.detach(), q.detach(), rtol=0, atol=1e-6)
