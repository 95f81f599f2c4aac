import warnings

import pytest
import torch
from galore_torch import GaLoreAdamW as PackageGaLoreAdamW
from optimizer_steps import run

from clbench.optim.galore import GaLoreAdamW, galore_param_groups
from clbench.optim.state import optimizer_state_bytes

GROUP = {"rank": 4, "update_proj_gap": 2, "scale": 1.0, "proj_type": "std"}


def test_conv_kernels_are_projected_as_out_by_in_times_kernel_matrices():
    torch.manual_seed(0)
    kernel = torch.nn.Parameter(torch.randn(8, 3, 3, 3))
    matrix = torch.nn.Parameter(kernel.detach().reshape(8, 27).clone())
    grads = [torch.randn_like(kernel) for _ in range(5)]
    run(GaLoreAdamW([{"params": [kernel], **GROUP}], lr=0.01), kernel, grads)
    package = PackageGaLoreAdamW([{"params": [matrix], **GROUP}], lr=0.01, no_deprecation_warning=True)
    run(package, matrix, [g.reshape(8, 27) for g in grads])
    assert kernel.shape == (8, 3, 3, 3) and kernel.grad.shape == (8, 3, 3, 3)
    torch.testing.assert_close(kernel.detach().reshape(8, 27), matrix.detach())


def test_param_groups_project_only_matrices_larger_than_the_rank():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3), torch.nn.BatchNorm2d(16), torch.nn.Linear(16, 16),
                                torch.nn.Linear(16, 2))
    head = torch.nn.Linear(16, 5)
    dense, projected = galore_param_groups(model, rank=4, extra_dense=head.parameters())
    assert [p.shape for p in projected["params"]] == [(16, 3, 3, 3), (16, 16)]
    assert projected["rank"] == 4 and "rank" not in dense
    # conv bias, BatchNorm, the first linear's bias, the 2 x 16 linear, the head
    assert len(dense["params"]) == 1 + 2 + 1 + 2 + 2


def test_state_counts_the_projection_matrices():
    param = torch.nn.Parameter(torch.randn(64, 48))
    optimizer = GaLoreAdamW([{"params": [param], **{**GROUP, "rank": 8}}])
    run(optimizer, param, [torch.randn(64, 48)])
    # 64 >= 48: right projection, an 8 x 48 matrix and 64 x 8 moments, all fp32
    assert optimizer_state_bytes(optimizer) == 4 * (8 * 48 + 2 * 64 * 8)


def test_no_warnings_reach_users():
    param = torch.nn.Parameter(torch.randn(16, 16))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run(GaLoreAdamW([{"params": [param], **GROUP}]), param, [torch.randn(16, 16)])
    assert [str(w.message) for w in caught] == []


@pytest.mark.parametrize("rank, shape", [(9, (8, 20)), (4, (10,))])
def test_rank_larger_than_a_layer_is_rejected(rank, shape):
    with pytest.raises(ValueError, match=f"rank={rank} is larger than a parameter of shape"):
        GaLoreAdamW([{"params": [torch.nn.Parameter(torch.randn(shape))], **{**GROUP, "rank": rank}}])


def test_negative_learning_rate_is_rejected():
    with pytest.raises(ValueError, match="lr=-1"):
        GaLoreAdamW([torch.nn.Parameter(torch.randn(3))], lr=-1)


def test_state_dict_loads_with_weights_only_and_continues_identically():
    import io

    torch.manual_seed(0)
    grads = [torch.randn(8, 3, 3, 3) for _ in range(6)]
    whole = torch.nn.Parameter(torch.randn(8, 3, 3, 3))
    resumed = torch.nn.Parameter(whole.detach().clone())
    run(GaLoreAdamW([{"params": [whole], **GROUP}], lr=0.01), whole, grads)

    first = GaLoreAdamW([{"params": [resumed], **GROUP}], lr=0.01)
    run(first, resumed, grads[:3])
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    second = GaLoreAdamW([{"params": [resumed], **GROUP}], lr=0.01)
    second.load_state_dict(torch.load(buffer, weights_only=True))
    assert first.state[resumed]["projector"].ortho_matrix is not None  # state_dict() left the live state alone
    run(second, resumed, grads[3:])
    assert torch.equal(resumed.detach(), whole.detach())
