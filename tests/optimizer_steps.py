"""Driving an optimizer with given gradients, for the optimizer tests."""


def run(optimizer, param, grads):
    """One optimizer step per gradient in `grads`, each set as param.grad."""
    for g in grads:
        param.grad = g.clone()
        optimizer.step()
