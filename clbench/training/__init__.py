"""Training one run: backbones, the multi-head model, the engine, its Avalanche template and callbacks,
checkpoints, run locks and the metrics it records."""
