"""Experience replay from a class-balanced buffer of every earlier task, on any optimizer strategy."""

from clbench.methods.compose import method_strategy
from clbench.settings import Setting


def make_callbacks(config):
    from clbench.methods.replay import ExperienceReplay  # Avalanche loads only when a run uses it

    batch_size = config["replay_batch_size"] or config["batch_size"]
    return [ExperienceReplay(config["buffer_per_task"], batch_size)]


STRATEGY = method_strategy(
    name="replay",
    description="experience replay: 200 examples per task, class-balanced, on the device, on --set optimizer",
    defaults={
        "buffer_per_task": Setting(200, "examples kept of each task, class-balanced (Mammoth's smallest buffer)",
                                   within="[0, inf)"),
        "replay_batch_size": Setting(0, "buffer examples added to every batch; 0: batch_size, as Avalanche's replay",
                                     within="[0, inf)"),
    },
    make_callbacks=make_callbacks,
)
