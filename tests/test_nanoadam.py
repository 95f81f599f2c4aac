import pytest
import torch

from clbench.optim import NanoAdam
from clbench.optim.param_groups import split_masked_dense


def reference_masked_adam(weight, grads, index, lr, betas, eps, weight_decay=0.0):
    """Plain Adam with bias correction on the entries `index` of a flat copy of `weight`."""
    w = weight.detach().clone().reshape(-1)
    m = torch.zeros(len(index))
    v = torch.zeros(len(index))
    for t, g in enumerate(grads, start=1):
        g = g.reshape(-1)[index]
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g * g
        m_hat = m / (1 - betas[0] ** t)
        v_hat = v / (1 - betas[1] ** t)
        w[index] -= lr * (m_hat / (v_hat.sqrt() + eps) + weight_decay * w[index])
    return w.reshape(weight.shape)


def run(optimizer, param, grads):
    for g in grads:
        param.grad = g.clone()
        optimizer.step()


@pytest.fixture
def weight():
    torch.manual_seed(0)
    return torch.nn.Parameter(torch.randn(8, 16))


def test_equals_masked_adam_on_the_selected_entries(weight):
    grads = [torch.randn_like(weight) for _ in range(5)]
    index = torch.argsort(weight.detach().abs().reshape(-1))[:13]  # ceil(0.1 * 128) = 13
    expected = reference_masked_adam(weight, grads, index, lr=0.01, betas=(0.9, 0.999), eps=1e-8,
                                     weight_decay=0.1)
    optimizer = NanoAdam([weight], lr=0.01, density=0.1, mask_interval=1000, weight_decay=0.1)
    run(optimizer, weight, grads)
    torch.testing.assert_close(weight.detach(), expected)


def test_only_the_smallest_weights_change(weight):
    before = weight.detach().clone()
    optimizer = NanoAdam([weight], lr=0.1, density=0.25, mask_interval=1000)
    run(optimizer, weight, [torch.randn_like(weight) for _ in range(3)])
    changed = (weight.detach() != before).reshape(-1)
    smallest = torch.zeros_like(changed)
    smallest[torch.argsort(before.abs().reshape(-1))[:32]] = True
    assert changed.sum() == 32
    assert torch.equal(changed, smallest)


def test_mask_is_refreshed_every_interval_from_the_current_weights(weight):
    optimizer = NanoAdam([weight], lr=0.5, density=0.1, mask_interval=2)
    run(optimizer, weight, [torch.randn_like(weight) for _ in range(2)])
    first_mask = optimizer.state[weight]["index"].clone()
    current = weight.detach().clone()
    run(optimizer, weight, [torch.randn_like(weight)])
    state = optimizer.state[weight]
    assert torch.equal(state["index"], torch.argsort(current.abs().reshape(-1))[:13].sort().values)
    assert not torch.equal(state["index"], first_mask)  # large steps moved weights out of the bottom-k
    assert state["step"] == 1  # moments restarted with the new mask


def test_dense_group_equals_torch_adamw(weight):
    twin = torch.nn.Parameter(weight.detach().clone())
    grads = [torch.randn_like(weight) for _ in range(4)]
    run(NanoAdam([{"params": [weight], "masked": False}], lr=0.01, weight_decay=0.05), weight, grads)
    run(torch.optim.AdamW([twin], lr=0.01, weight_decay=0.05, foreach=False), twin, grads)
    torch.testing.assert_close(weight.detach(), twin.detach())


def test_state_holds_only_the_selected_entries(weight):
    optimizer = NanoAdam([weight], density=0.1)
    run(optimizer, weight, [torch.randn_like(weight)])
    state = optimizer.state[weight]
    assert state["exp_avg"].numel() == state["exp_avg_sq"].numel() == state["index"].numel() == 13


def test_norm_layers_and_biases_are_dense():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Linear(4, 2))
    masked, dense = split_masked_dense(model)
    assert {id(p) for p in masked} == {id(model[0].weight), id(model[2].weight)}
    assert {id(p) for p in dense} == {id(model[0].bias), id(model[1].weight), id(model[1].bias), id(model[2].bias)}
    masked, _ = split_masked_dense(model, mask_biases=True)
    assert id(model[0].bias) in {id(p) for p in masked}


@pytest.mark.parametrize(
    "kwargs, name",
    [({"density": 0.0}, "density"), ({"density": 1.5}, "density"), ({"lr": -1.0}, "lr"),
     ({"mask_interval": 0}, "mask_interval"), ({"weight_decay": -0.1}, "weight_decay")],
)
def test_bad_hyperparameters_name_the_parameter(weight, kwargs, name):
    with pytest.raises(ValueError, match=name):
        NanoAdam([weight], **kwargs)


def test_group_without_trainable_parameters_is_rejected():
    frozen = torch.nn.Parameter(torch.ones(3), requires_grad=False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        NanoAdam([frozen])
