"""Fixtures shared by the test files."""

from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class CommandResult:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(capsys, tmp_path, monkeypatch):
    """clbench's main() called in this process, as the `clbench` command calls it: its exit code
    and what it printed. It runs in an empty folder, so that default paths (results/runs, ...)
    never reach the repository's own. (Tests of the installed command's exit status and streams
    run it as a process: test_cli.clbench.)"""
    from clbench.cli import main
    from clbench.registry import use_plugins

    monkeypatch.chdir(tmp_path)

    def run(*args) -> CommandResult:
        capsys.readouterr()
        code = main([str(arg) for arg in args])
        printed = capsys.readouterr()
        return CommandResult(code, printed.out, printed.err)

    yield run
    use_plugins([])  # a --plugins of the command stays registered in this process otherwise
