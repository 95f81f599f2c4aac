import copy
import math

import pytest
import torch
from optimizer_steps import run

from clbench.optim import NanoAdam
from clbench.optim.nanoadam_reference import scheduled_density
from clbench.optim.param_groups import masked_param_groups, split_masked_dense
from clbench.optim.state import optimizer_state_bytes


def bottom_k_per_chunk(weight, density, chunk_size, largest=False):
    """Flat indices of ceil(density * len) smallest (or largest) |w| of each chunk, by plain sorting."""
    flat = weight.detach().abs().reshape(-1)
    chosen = []
    for start in range(0, flat.numel(), chunk_size):
        chunk = flat[start:start + chunk_size]
        order = torch.argsort(chunk, descending=largest)
        chosen.append(order[:math.ceil(density * chunk.numel())] + start)
    return torch.cat(chosen).sort().values


def reference_masked_adam(weight, grads, index, lr, betas, eps, weight_decay=0.0):
    """Plain Adam with bias correction and decoupled weight decay on the entries `index` of `weight`."""
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


@pytest.fixture
def weight():
    torch.manual_seed(0)
    return torch.nn.Parameter(torch.randn(10, 25))  # 250 entries: chunks of 64 leave a tail of 58


def test_equals_masked_adam_on_the_bottom_k_of_each_chunk(weight):
    grads = [torch.randn_like(weight) for _ in range(5)]
    index = bottom_k_per_chunk(weight, 0.1, 64)
    expected = reference_masked_adam(weight, grads, index, lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)
    optimizer = NanoAdam([weight], lr=0.01, density=0.1, chunk_size=64, mask_interval=1000, weight_decay=0.1,
                         state_dtype=torch.float32)
    run(optimizer, weight, grads)
    torch.testing.assert_close(weight.detach(), expected)


def test_bf16_moments_stay_close_to_fp32_adam(weight):
    grads = [torch.randn_like(weight) for _ in range(5)]
    expected = reference_masked_adam(weight, grads, bottom_k_per_chunk(weight, 0.1, 64), 0.01, (0.9, 0.999), 1e-8)
    optimizer = NanoAdam([weight], lr=0.01, density=0.1, chunk_size=64, mask_interval=1000)
    run(optimizer, weight, grads)
    assert optimizer.state[weight]["exp_avg"].dtype == torch.bfloat16
    torch.testing.assert_close(weight.detach(), expected, rtol=0, atol=1e-3)


def test_only_the_bottom_k_of_each_chunk_changes(weight):
    before = weight.detach().clone()
    optimizer = NanoAdam([weight], lr=0.1, density=0.2, chunk_size=64, mask_interval=1000)
    run(optimizer, weight, [torch.randn_like(weight) for _ in range(3)])
    changed = torch.nonzero((weight.detach() != before).reshape(-1)).squeeze(1)
    assert torch.equal(changed, bottom_k_per_chunk(before, 0.2, 64))  # 3 chunks x 13 + tail of 58 x 12


def test_mask_depends_on_the_weights_not_the_gradient(weight):
    masks = []
    for scale in (1.0, 1e6):
        param = torch.nn.Parameter(weight.detach().clone())
        optimizer = NanoAdam([param], lr=0.0, density=0.1, chunk_size=64)
        run(optimizer, param, [scale * torch.randn_like(param)])
        masks.append(optimizer.mask_index(param))
    assert torch.equal(masks[0], masks[1])
    assert torch.equal(masks[0], bottom_k_per_chunk(weight, 0.1, 64))


def test_mask_is_refreshed_every_interval_from_the_current_weights(weight):
    optimizer = NanoAdam([weight], lr=0.5, density=0.1, chunk_size=0, mask_interval=2)
    run(optimizer, weight, [torch.randn_like(weight) for _ in range(2)])
    first_mask = optimizer.state[weight]["index"].clone()
    current = weight.detach().clone()
    run(optimizer, weight, [torch.randn_like(weight)])
    state = optimizer.state[weight]
    assert torch.equal(state["index"].long(), bottom_k_per_chunk(current, 0.1, 250))
    assert not torch.equal(state["index"], first_mask)  # large steps moved weights out of the bottom-k
    assert state["step"] == 1  # "reset": moments restarted with the new mask


def test_keep_carries_moments_of_entries_that_stay_selected(weight):
    grads = [torch.randn_like(weight) for _ in range(4)]
    index = bottom_k_per_chunk(weight, 0.1, 250)
    # A tiny lr keeps the bottom-k unchanged, so refreshing every step must not disturb "keep".
    expected = reference_masked_adam(weight, grads, index, lr=1e-7, betas=(0.9, 0.999), eps=1e-8)
    kept = NanoAdam([weight], lr=1e-7, density=0.1, chunk_size=0, mask_interval=1, on_mask_change="keep",
                    state_dtype=torch.float32)
    run(kept, weight, grads)
    assert kept.state[weight]["age"].tolist() == [4] * len(index) and kept.state[weight]["mask_refreshes"] == 4
    torch.testing.assert_close(weight.detach(), expected, rtol=0, atol=1e-12)


def test_keep_zeroes_moments_of_newly_selected_entries():
    weight = torch.nn.Parameter(torch.tensor([0.1, 0.2, 5.0, 6.0]))
    optimizer = NanoAdam([weight], lr=0.0, density=0.5, chunk_size=0, mask_interval=1, on_mask_change="keep",
                         state_dtype=torch.float32)
    run(optimizer, weight, [torch.ones(4)])
    with torch.no_grad():
        weight.copy_(torch.tensor([0.1, 7.0, 0.3, 6.0]))  # entry 1 leaves the mask, entry 2 enters it
    run(optimizer, weight, [torch.ones(4)])
    state = optimizer.state[weight]
    assert state["index"].tolist() == [0, 2]
    torch.testing.assert_close(state["exp_avg"], torch.tensor([0.1 * 0.9 + 0.1, 0.1]))
    assert state["age"].tolist() == [2, 1]


def test_keep_gives_a_newly_selected_entry_the_first_step_of_fresh_adam():
    """Bias correction by the entry's own age: its first step is lr, not 0.7 lr (at the 2nd step of
    the optimizer) tending to 3.16 lr (late in a run), as a shared step count would give."""
    weight = torch.nn.Parameter(torch.tensor([0.1, 0.2, 5.0, 6.0]))
    optimizer = NanoAdam([weight], lr=1e-3, density=0.5, chunk_size=0, mask_interval=50, on_mask_change="keep",
                         state_dtype=torch.float32)
    run(optimizer, weight, [torch.ones(4)] * 50)
    with torch.no_grad():
        weight[2] = 0.1  # now below entry 1 (0.15 after 50 steps): it enters the mask at the next refresh
    before = weight.detach().clone()
    run(optimizer, weight, [torch.ones(4)])
    assert optimizer.state[weight]["index"].tolist() == [0, 2]
    torch.testing.assert_close(before[2] - weight.detach()[2], torch.tensor(1e-3), rtol=1e-4, atol=0)


def update_sizes_after_gradients_drop(**options):
    """Mean |step| / lr at the end of 2,000 steps whose last 1,000 gradients are 10x smaller."""
    torch.manual_seed(0)
    param = torch.nn.Parameter(torch.randn(250))
    optimizer = NanoAdam([param], lr=1e-6, density=0.2, chunk_size=0, mask_interval=100, **options)
    generator = torch.Generator().manual_seed(1)
    for step in range(2000):
        param.grad = torch.randn(250, generator=generator) * (1.0 if step < 1000 else 0.1)
        before = param.detach().clone()
        optimizer.step()
    return float((before - param.detach()).abs().sum() / 1e-6 / optimizer.state[param]["index"].numel())


@pytest.mark.parametrize("on_mask_change", ["reset", "keep"])
def test_second_moment_decays_when_gradients_shrink(on_mask_change):
    exact = update_sizes_after_gradients_drop(on_mask_change=on_mask_change, state_dtype=torch.float32)
    default = update_sizes_after_gradients_drop(on_mask_change=on_mask_change)
    assert default == pytest.approx(exact, rel=0.03)
    if on_mask_change == "keep":  # v in bf16 cannot decay: the steps stay about half as large
        assert update_sizes_after_gradients_drop(on_mask_change="keep", v_dtype=torch.bfloat16) < 0.7 * exact


def test_sparse_gradients_are_a_clear_error():
    embedding = torch.nn.Embedding(10, 4, sparse=True)
    embedding(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(RuntimeError, match="NanoAdam does not support sparse gradients.*sparse=False"):
        NanoAdam(embedding.parameters()).step()


@pytest.mark.parametrize("criterion", ["large", "large_gradient"])
def test_other_mask_criteria_select_the_top_k(weight, criterion):
    grad = torch.randn_like(weight)
    optimizer = NanoAdam([weight], density=0.1, chunk_size=64, criterion=criterion)
    scores = weight if criterion == "large" else grad
    expected = bottom_k_per_chunk(scores, 0.1, 64, largest=True)
    run(optimizer, weight, [grad])
    assert torch.equal(optimizer.mask_index(weight), expected)


def test_random_mask_is_reproducible_and_not_the_small_weights(weight):
    masks = []
    for _ in range(2):
        param = torch.nn.Parameter(weight.detach().clone())
        optimizer = NanoAdam([param], density=0.2, chunk_size=64, criterion="random", seed=3)
        run(optimizer, param, [torch.ones_like(param)])
        masks.append(optimizer.mask_index(param))
    assert torch.equal(masks[0], masks[1])
    assert masks[0].numel() == bottom_k_per_chunk(weight, 0.2, 64).numel()
    assert not torch.equal(masks[0], bottom_k_per_chunk(weight, 0.2, 64))


@pytest.mark.parametrize(
    "schedule, step, expected",
    [("constant", 7, 0.1), ("linear", 0, 0.1), ("linear", 5, 0.07), ("linear", 9, 0.07), ("linear", 10, 0.04),
     ("linear", 50, 0.04), ("cosine", 10, 0.04), ("cosine", 5, 0.04 + 0.06 * 0.5 * (1 + math.cos(math.pi / 2)))],
)
def test_density_schedule_is_stepped_every_interval(schedule, step, expected):
    group = dict(density=0.1, density_end=0.04, density_schedule=schedule, density_interval=5, total_steps=10)
    assert scheduled_density(group, step) == pytest.approx(expected)


def test_a_change_of_k_refreshes_the_mask(weight):
    optimizer = NanoAdam([weight], density=0.2, density_end=0.1, density_schedule="linear", density_interval=2,
                         total_steps=4, chunk_size=0, mask_interval=1000)
    sizes = []
    for _ in range(5):
        run(optimizer, weight, [torch.randn_like(weight)])
        sizes.append(optimizer.state[weight]["index"].numel())
    assert sizes == [50, 50, 38, 38, 25]  # ceil(250 * density) for density 0.2, 0.15, 0.1
    assert optimizer.state[weight]["mask_refreshes"] == 3


def test_excluded_layers_are_trained_densely():
    torch.manual_seed(0)
    model = torch.nn.Sequential()
    model.add_module("conv", torch.nn.Conv2d(3, 8, 3))
    model.add_module("norm", torch.nn.BatchNorm2d(8))
    model.add_module("proj", torch.nn.Linear(8, 8))
    model.add_module("head", torch.nn.Linear(8, 2))
    before = copy.deepcopy(model)
    optimizer = NanoAdam(masked_param_groups(model, dense_names=("head.*", "proj.*")), lr=0.01, density=0.1)
    for _ in range(2):
        for p in model.parameters():
            p.grad = torch.randn_like(p)
        optimizer.step()
    changed = {name: int((p != before.get_parameter(name)).sum()) for name, p in model.named_parameters()}
    dense = ["conv.bias", "norm.weight", "norm.bias", "proj.weight", "proj.bias", "head.weight", "head.bias"]
    assert all(changed[name] == model.get_parameter(name).numel() for name in dense)
    assert changed["conv.weight"] == math.ceil(0.1 * 8 * 3 * 9)


def test_default_split_keeps_norms_heads_and_biases_dense():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.LayerNorm(4), torch.nn.Linear(4, 4))
    model.add_module("classifier", torch.nn.Linear(4, 2))
    masked, dense = split_masked_dense(model)
    assert [id(p) for p in masked] == [id(model[0].weight), id(model[2].weight)]
    assert len(dense) == 6
    masked, _ = split_masked_dense(model, mask_biases=True, dense_types=())
    assert {id(model[0].bias), id(model[1].weight)} <= {id(p) for p in masked}


@pytest.mark.parametrize("v_dtype, bytes_per_selected", [(torch.float32, 8), (torch.bfloat16, 6)])
def test_state_is_eight_bytes_per_selected_weight_six_with_v_in_bf16(v_dtype, bytes_per_selected):
    param = torch.nn.Parameter(torch.randn(1000))
    optimizer = NanoAdam([param], density=0.01, chunk_size=300, v_dtype=v_dtype)
    run(optimizer, param, [torch.randn(1000)])
    selected = 3 * math.ceil(0.01 * 300) + math.ceil(0.01 * 100)  # three full chunks and a tail of 100
    assert optimizer.state[param]["index"].dtype == torch.int16
    assert optimizer_state_bytes(optimizer) == bytes_per_selected * selected


@pytest.mark.parametrize("options", [{}, {"criterion": "random", "on_mask_change": "keep", "mask_interval": 2}])
def test_state_dict_round_trip_continues_bit_identically(weight, options):
    grads = [torch.randn_like(weight) for _ in range(8)]
    optimizer = NanoAdam([weight], **{"lr": 0.05, "density": 0.1, "chunk_size": 64, "mask_interval": 3, **options})
    run(optimizer, weight, grads[:4])
    saved_weight, saved_state = weight.detach().clone(), copy.deepcopy(optimizer.state_dict())
    run(optimizer, weight, grads[4:])

    twin = torch.nn.Parameter(saved_weight)
    restored = NanoAdam([twin])
    restored.load_state_dict(saved_state)
    run(restored, twin, grads[4:])
    assert torch.equal(twin.detach(), weight.detach())
    for key, value in optimizer.state[weight].items():
        other = restored.state[twin][key]
        assert torch.equal(other, value) and other.dtype == value.dtype if torch.is_tensor(value) else other == value


def test_channels_last_kernels_are_chunked_like_their_contiguous_copy():
    torch.manual_seed(0)
    plain = torch.nn.Parameter(torch.randn(8, 6, 3, 3))
    channels_last = torch.nn.Parameter(plain.detach().clone().to(memory_format=torch.channels_last))
    grads = [torch.randn_like(plain) for _ in range(3)]
    optimizers = [NanoAdam([param], lr=0.1, density=0.1, chunk_size=50, mask_interval=2) for param in (plain,
                                                                                                    channels_last)]
    for optimizer, param in zip(optimizers, (plain, channels_last)):
        run(optimizer, param, grads)
    assert channels_last.is_contiguous(memory_format=torch.channels_last)  # updated in place
    assert torch.equal(optimizers[0].mask_index(plain), optimizers[1].mask_index(channels_last))
    assert torch.equal(plain.detach(), channels_last.detach())


def test_a_checkpoint_resumes_under_another_memory_format():
    torch.manual_seed(0)
    plain = torch.nn.Parameter(torch.randn(8, 6, 3, 3))
    grads = [torch.randn_like(plain) for _ in range(6)]
    optimizer = NanoAdam([plain], lr=0.1, density=0.1, chunk_size=50, mask_interval=4)
    run(optimizer, plain, grads[:3])
    twin = torch.nn.Parameter(plain.detach().clone().to(memory_format=torch.channels_last))
    restored = NanoAdam([twin])
    restored.load_state_dict(copy.deepcopy(optimizer.state_dict()))
    run(optimizer, plain, grads[3:])
    run(restored, twin, grads[3:])
    assert torch.equal(plain.detach(), twin.detach())


def test_dense_group_equals_torch_adamw(weight):
    twin = torch.nn.Parameter(weight.detach().clone())
    grads = [torch.randn_like(weight) for _ in range(4)]
    run(NanoAdam([{"params": [weight], "masked": False}], lr=0.01, weight_decay=0.05), weight, grads)
    run(torch.optim.AdamW([twin], lr=0.01, weight_decay=0.05, foreach=False), twin, grads)
    torch.testing.assert_close(weight.detach(), twin.detach())


@pytest.mark.parametrize(
    "kwargs, name",
    [({"density": 0.0}, "density"), ({"density": 1.5}, "density"), ({"density_end": -0.1}, "density_end"),
     ({"lr": -1.0}, "lr"), ({"mask_interval": 0}, "mask_interval"), ({"density_interval": -2}, "density_interval"),
     ({"chunk_size": -1}, "chunk_size"), ({"criterion": "median"}, "criterion"),
     ({"density_schedule": "linear", "density_end": 0.001}, "total_steps"),
     ({"on_mask_change": "merge"}, "on_mask_change"), ({"weight_decay": -0.1}, "weight_decay")],
)
def test_bad_hyperparameters_name_the_parameter(weight, kwargs, name):
    with pytest.raises(ValueError, match=f"{name}="):
        NanoAdam([weight], **kwargs)


def test_group_without_trainable_parameters_is_rejected():
    frozen = torch.nn.Parameter(torch.ones(3), requires_grad=False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        NanoAdam([frozen])
