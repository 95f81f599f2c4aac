"""Training one run: backbones, the multi-head model, the engine, its Avalanche template and plugins,
checkpoints, run locks and the metrics it records."""
