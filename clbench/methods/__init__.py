"""Continual-learning methods (EWC, SI, MAS, LwF, replay, L2-SP, ...) as strategies that train with
any optimizer strategy: Avalanche's callbacks, adapted to clbench's task-incremental runs."""
