"""One description of `clbench run`'s options serves parsing and writing a run back as arguments."""

from clbench.arguments import build_parser
from clbench.run import RunOptions, plan_run


def test_a_planned_run_and_its_options_turn_back_into_arguments_that_give_them_again(tmp_path):
    spec = plan_run("fashionmnist_mnist", "nanoadam", None, 3, ["epochs=1", "lr=1e-3,2e-3"], smoke=True,
                    results=tmp_path, weights=None)
    options = RunOptions(device="cpu", data_root=tmp_path, download=False, plugins=(tmp_path,), checkpoint_every=5,
                         keep_checkpoints=True, restart=True, progress=False)
    args = build_parser().parse_args(["run", *spec.run_args(), *options.run_args()])
    again = plan_run(args.stream, args.strategy, args.backbone, args.seeds[0], args.assignments, args.smoke, tmp_path,
                     args.tuned, args.weights)
    assert again == spec
    assert RunOptions(device=args.device, data_root=args.data_root, download=args.download, plugins=tuple(args.plugins),
                      checkpoint_every=args.checkpoint_every, keep_checkpoints=args.keep_checkpoints,
                      restart=args.restart, progress=args.progress) == options


def test_defaults_are_left_out_of_the_arguments():
    assert RunOptions().run_args() == []
