"""Control for NanoAdam: Adam on as many backbone weights, the largest-magnitude ones instead of the smallest."""

from clbench_strategies.nanoadam import mask_control

STRATEGY = mask_control(
    "large_mask", "large",
    "control for NanoAdam: Adam on the same share of weights, the largest-magnitude ones of each chunk",
)
