"""Control for NanoAdam: Adam on as many backbone weights, chosen at random instead of the smallest."""

from clbench_strategies.nanoadam import mask_control

STRATEGY = mask_control(
    "random_mask", "random",
    "control for NanoAdam: Adam on the same share of weights chosen at random (new draw each mask, task and seed)",
)
