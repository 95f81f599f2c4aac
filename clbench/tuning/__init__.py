"""Choosing a strategy's settings on validation data: `clbench tune` and the tuned-settings files."""
