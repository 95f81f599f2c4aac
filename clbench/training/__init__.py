"""Training one run: backbones, the multi-head model, the engine, checkpoints, run locks and the metrics it records."""
