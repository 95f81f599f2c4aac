"""The fast NanoAdam (clbench.optim.NanoAdam) against the per-tensor reference it is built from."""

import copy
from collections import Counter

import pytest
import torch

from clbench.optim import NanoAdam
from clbench.optim.nanoadam_reference import NanoAdamReference
from clbench.optim.op_count import top_level_aten_calls, top_level_aten_counts
from optimizer_steps import assert_same_weights, gradients, train

# Settings that exercise every path: refreshes, a density schedule that changes k, moments kept
# across refreshes, weight decay, the literal algorithm box without bias correction.
OPTIONS = [
    dict(),
    dict(on_mask_change="keep", weight_decay=0.1),
    dict(density=0.1, density_end=0.02, density_schedule="linear", total_steps=30, density_interval=5),
    dict(bias_correction=False, state_dtype=torch.float32, v_dtype=torch.bfloat16),
    dict(criterion="random", seed=3),
    dict(criterion="large_gradient", on_mask_change="keep"),
]


def model_params(seed: int = 0) -> list[torch.nn.Parameter]:
    """Tensors of several shapes: chunks with tails, a lone small tensor, a channels-last kernel."""
    generator = torch.Generator().manual_seed(seed)
    shapes = [(40, 33), (7,), (16, 8, 3, 3), (300,), (5, 5)]
    params = [torch.nn.Parameter(torch.randn(shape, generator=generator)) for shape in shapes]
    params[2].data = params[2].data.to(memory_format=torch.channels_last)
    return params


def groups(params, **options):
    return [{"params": params[:3], "masked": True}, {"params": params[3:], "masked": False}]


def twins(options):
    fast_params, reference_params = model_params(), model_params()
    common = dict(lr=0.01, chunk_size=64, mask_interval=7, **options)
    return (fast_params, NanoAdam(groups(fast_params), **common),
            reference_params, NanoAdamReference(groups(reference_params), **common))


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "defaults")
def test_equals_the_reference_over_many_steps_and_refreshes(options):
    fast_params, fast, reference_params, reference = twins(options)
    steps = gradients(fast_params, 40)
    train(fast, fast_params, steps)
    train(reference, reference_params, steps)
    assert fast.mask_refreshes() == reference.mask_refreshes() >= 6
    assert_same_weights(fast_params, reference_params)
    for p, q in zip(fast_params[:3], reference_params[:3]):
        assert torch.equal(fast.mask_index(p), reference.mask_index(q))


def test_a_tensor_without_gradient_for_a_step_takes_the_per_tensor_path():
    fast_params, fast, reference_params, reference = twins({})
    steps = gradients(fast_params, 20, missing={(3, 1), (9, 4)})
    train(fast, fast_params, steps)
    train(reference, reference_params, steps)
    assert_same_weights(fast_params, reference_params)
    assert fast.state[fast_params[1]]["total_steps"] == 19 and fast.state[fast_params[0]]["total_steps"] == 20


@pytest.mark.parametrize("first, second", [(NanoAdam, NanoAdamReference), (NanoAdamReference, NanoAdam)])
@pytest.mark.parametrize("options", [{}, dict(on_mask_change="keep")], ids=["reset", "keep"])
def test_state_dicts_load_into_the_other_implementation(first, second, options):
    params, twin = model_params(), model_params()
    steps = gradients(params, 25)
    common = dict(lr=0.01, chunk_size=64, mask_interval=7, **options)
    optimizer = first(groups(params), **common)
    train(optimizer, params, steps[:11])
    for p, q in zip(params, twin):
        q.data.copy_(p.data)
    other = second(groups(twin), **common)
    other.load_state_dict(copy.deepcopy(optimizer.state_dict()))
    train(optimizer, params, steps[11:])
    train(other, twin, steps[11:])
    assert_same_weights(params, twin)


def test_only_the_masked_entries_change():
    params = model_params()
    optimizer = NanoAdam(groups(params), lr=0.01, chunk_size=64, density=0.05)
    before = [p.detach().clone() for p in params]
    train(optimizer, params, gradients(params, 1))
    for p, old in zip(params[:3], before[:3]):
        changed = (p.detach() != old).reshape(-1).nonzero().flatten()
        assert torch.equal(changed, optimizer.mask_index(p))


def stepped(count: int, masked: bool) -> tuple[NanoAdam, Counter]:
    """An optimizer over `count` tensors of 1,000 entries, one step taken, and its next step's aten calls."""
    params = [torch.nn.Parameter(torch.randn(10, 100)) for _ in range(count)]
    optimizer = NanoAdam([{"params": params, "masked": masked}], lr=0.01, mask_interval=1000)
    for p in params:
        p.grad = torch.randn_like(p)
    optimizer.step()
    return optimizer, top_level_aten_counts(optimizer.step)


def test_a_step_issues_one_gather_and_one_scatter_per_masked_tensor_and_constant_dense_work():
    masked_few, masked_many = stepped(4, masked=True)[1], stepped(20, masked=True)[1]
    per_tensor = {"aten::view": 2, "aten::index_select": 1, "aten::index_add_": 1}  # a view launches no kernel
    assert masked_many - masked_few == Counter({name: 16 * n for name, n in per_tensor.items()})
    dense_few, dense_many = stepped(4, masked=False)[1], stepped(20, masked=False)[1]
    assert dense_few == dense_many
    reference = NanoAdamReference([{"params": [torch.nn.Parameter(torch.randn(10, 100)) for _ in range(20)]}])
    for p in reference.param_groups[0]["params"]:
        p.grad = torch.randn_like(p)
    reference.step()
    assert top_level_aten_calls(reference.step) > 3 * masked_many.total()


def test_the_memory_beside_the_state_is_the_int32_flat_indices_and_the_dense_scratch():
    params = model_params()
    optimizer = NanoAdam(groups(params), lr=0.01, chunk_size=64, density=0.05)
    train(optimizer, params, gradients(params, 2))
    selected = sum(optimizer.state[p]["index"].numel() for p in params[:3])
    dense = sum(p.numel() for p in params[3:])
    assert optimizer.buffer_bytes() == 4 * selected + 4 * dense
