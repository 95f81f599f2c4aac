import copy
import math

import pytest
import torch
from optimizer_steps import run

from clbench.optim import MicroAdam
from clbench.optim.chunks import Chunking
from clbench.optim.microadam_reference import dequantize_add_, quantize
from clbench.optim.state import optimizer_state_bytes


def reference_microadam(weight, grads, lr, betas, eps, weight_decay, density, window, block, quant_block):
    """MicroAdam's algorithm written out on dense vectors, one loop per block."""
    w = weight.detach().clone().reshape(-1)
    n = w.numel()
    error = torch.zeros(n)
    history = []
    for t, g in enumerate(grads, start=1):
        a = g.reshape(-1) + error
        sparse = torch.zeros(n)
        for start in range(0, n, block):
            top = torch.argsort(a[start:start + block].abs(), descending=True)
            top = top[:math.ceil(density * min(block, n - start))] + start
            sparse[top] = a[top].bfloat16().float()
            a[top] = 0
        for start in range(0, n, quant_block):
            part = a[start:start + quant_block]
            low, high = part.min().bfloat16().float(), part.max().bfloat16().float()
            unit = (high - low) / 15
            codes = torch.floor((part - low) / unit + 0.5).clamp(0, 15) if unit > 0 else torch.zeros_like(part)
            error[start:start + quant_block] = codes * unit + low
        history = (history + [sparse])[-window:]
        m = sum(betas[0] ** age * s for age, s in enumerate(reversed(history)))
        v = sum(betas[1] ** age * s * s for age, s in enumerate(reversed(history)))
        c1 = (1 - betas[0]) / (1 - betas[0] ** t)
        c2 = (1 - betas[1]) / (1 - betas[1] ** t)
        w = w * (1 - lr * weight_decay) - lr * c1 * m / ((c2 * v).sqrt() + eps)
    return w.reshape(weight.shape)


@pytest.fixture
def weight():
    torch.manual_seed(0)
    return torch.nn.Parameter(torch.randn(15, 21))  # 315 entries: blocks of 100 leave tails


def test_equals_the_algorithm_written_out(weight):
    grads = [torch.randn_like(weight) for _ in range(7)]
    options = dict(lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1, density=0.05, window=3)
    expected = reference_microadam(weight, grads, block=100, quant_block=40, **options)
    optimizer = MicroAdam([weight], block_size=100, quant_block_size=40, **options)
    run(optimizer, weight, grads)
    torch.testing.assert_close(weight.detach(), expected)


def test_a_step_changes_exactly_the_entries_in_the_window(weight):
    optimizer = MicroAdam([weight], lr=0.01, density=0.02, window=2, block_size=100)
    run(optimizer, weight, [torch.randn_like(weight) for _ in range(3)])
    before = weight.detach().clone()
    run(optimizer, weight, [torch.randn_like(weight)])
    chunking = Chunking(weight.numel(), 100, 0.02)
    rows = optimizer.state[weight]["indices"]
    assert rows.shape == (2, 3 * 2 + 1)  # three blocks of 100 with 2 each, a tail of 15 with 1
    window = set(torch.cat([chunking.global_index(row) for row in rows]).tolist())  # steps 3 and 4
    changed = set(torch.nonzero((weight.detach() != before).reshape(-1)).squeeze(1).tolist())
    assert changed == window


def test_quantisation_round_trip_is_within_half_a_level():
    torch.manual_seed(1)
    values = torch.randn(1001)
    codes, low, high = quantize(values, 100)
    assert codes.dtype == torch.uint8 and codes.numel() == 501 and low.numel() == 11
    unit = ((high.float() - low.float()) / 15).repeat_interleave(100)[:1001]
    restored = torch.zeros(1001)
    dequantize_add_(restored, codes, low, high, 100)
    error = (restored - values).abs()
    assert bool((error <= unit / 2 + 0.01 * values.abs() + 1e-6).all())  # bf16 min/max add < 1% of |x|


def test_constant_blocks_quantise_exactly():
    values = torch.full((10,), 0.25)
    restored = torch.zeros(10)
    dequantize_add_(restored, *quantize(values, 4), 4)
    assert torch.equal(restored, values)


def test_state_bytes_match_the_formula():
    param = torch.nn.Parameter(torch.randn(1000))
    optimizer = MicroAdam([param], density=0.01, window=10, block_size=300, quant_block_size=100)
    run(optimizer, param, [torch.randn(1000)])
    selected = 3 * 3 + 1
    assert optimizer_state_bytes(optimizer) == 10 * selected * (2 + 2) + 1000 // 2 + 10 * (2 + 2)


def test_bf16_parameters_train_in_bf16_close_to_fp32(weight):
    grads = [torch.randn_like(weight) for _ in range(3)]
    half = torch.nn.Parameter(weight.detach().to(torch.bfloat16))
    run(MicroAdam([half], lr=1e-3, block_size=100), half, [g.to(torch.bfloat16) for g in grads])
    run(MicroAdam([weight], lr=1e-3, block_size=100), weight, grads)
    assert half.dtype == torch.bfloat16
    torch.testing.assert_close(half.detach().float(), weight.detach(), rtol=0, atol=0.02)


def test_state_dict_round_trip_continues_bit_identically(weight):
    grads = [torch.randn_like(weight) for _ in range(6)]
    optimizer = MicroAdam([weight], lr=0.01, window=2, block_size=100, quant_block_size=64)
    run(optimizer, weight, grads[:3])
    saved_weight, saved_state = weight.detach().clone(), copy.deepcopy(optimizer.state_dict())
    run(optimizer, weight, grads[3:])

    twin = torch.nn.Parameter(saved_weight)
    restored = MicroAdam([twin])
    restored.load_state_dict(saved_state)
    assert restored.state[twin]["error"].dtype == torch.uint8
    run(restored, twin, grads[3:])
    assert torch.equal(twin.detach(), weight.detach())


@pytest.mark.parametrize(
    "kwargs, name",
    [({"density": 0.0}, "density"), ({"density": 2.0}, "density"), ({"lr": -1e-3}, "lr"), ({"window": 0}, "window"),
     ({"block_size": 2**16}, "block_size"), ({"quant_block_size": 33}, "quant_block_size"),
     ({"weight_decay": -1.0}, "weight_decay"), ({"bucket_entries": 0}, "bucket_entries")],
)
def test_bad_hyperparameters_name_the_parameter(weight, kwargs, name):
    with pytest.raises(ValueError, match=f"{name}="):
        MicroAdam([weight], **kwargs)


def test_channels_last_kernels_are_blocked_like_their_contiguous_copy():
    torch.manual_seed(0)
    plain = torch.nn.Parameter(torch.randn(8, 6, 3, 3))
    channels_last = torch.nn.Parameter(plain.detach().clone().to(memory_format=torch.channels_last))
    grads = [torch.randn_like(plain) for _ in range(4)]
    for param in (plain, channels_last):
        run(MicroAdam([param], lr=0.01, density=0.1, block_size=50, quant_block_size=100), param, grads)
    assert channels_last.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(plain.detach(), channels_last.detach())


def test_sparse_gradients_are_a_clear_error():
    embedding = torch.nn.Embedding(10, 4, sparse=True)
    embedding(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(RuntimeError, match="MicroAdam does not support sparse gradients"):
        MicroAdam(embedding.parameters()).step()
