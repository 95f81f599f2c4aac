"""Where a sweep's runs execute: worker processes on this machine, a Ray cluster, or a Slurm job
array through submitit. Each executor only places runs; every run is a `clbench run` process
(same record, checkpoint, resume and lock), its output appended to the run's log file. Local runs
are forked from a server that has imported torch and Avalanche once (about 10 s a run saved)."""

from __future__ import annotations

import multiprocessing
import os
import platform
import shlex
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from queue import Queue
from typing import Callable

from clbench.errors import UsageError
from clbench.quiet import import_quietly
from clbench.records import is_completed, read_record
from clbench.run import RunOptions, RunSpec
from clbench.training.runlock import ALREADY_RUNNING


@dataclass(frozen=True)
class Job:
    spec: RunSpec  # the run, planned
    options: RunOptions
    log: Path  # where its output goes

    @property
    def record(self) -> Path:
        return self.spec.record

    def run_args(self) -> list[str]:
        """The arguments of the `clbench run` that does the same."""
        return [*self.spec.run_args(), "--results", str(self.spec.record.parent), *self.options.run_args()]


@dataclass(frozen=True)
class Outcome:
    status: str  # completed, diverged, failed, invalid (bad settings) or running elsewhere
    reason: str | None  # one line, when not completed
    wall_s: float


@dataclass(frozen=True)
class Placement:
    """How runs are placed, whatever the executor."""

    workers: int | None = None  # runs at a time; None: one per GPU (local), as many as fit (Ray, Slurm)
    device: str = "auto"
    cpus_per_run: int | None = None  # None: the cores split between the workers (local), 1 (Ray, Slurm)
    gpus_per_run: int | None = None  # None: 1 when the run trains on a GPU, else 0
    folder: Path = Path(".")  # for the executor's own files (submitit's job logs)
    ray_address: str | None = None
    slurm_partition: str | None = None
    slurm_time_min: int = 240
    slurm_mem_gb: int | None = None
    slurm_local: bool = False  # submitit's local executor instead of Slurm: try a job array here


OnDone = Callable[[Job, Outcome], None]

_live: set = set()  # this process's running `clbench run` children (Popen or _ForkedRun)
_live_lock = threading.Lock()
_PRELOAD = ["clbench.run", "clbench.training.engine"]  # what the forkserver imports once for every run


def execute(job: Job, env: dict[str, str], forked: bool = False) -> Outcome:
    """Runs one `clbench run` to its end, its output appended to job.log; never raises for a
    failed run. A new Python process, or with `forked` one forked from this machine's preloaded
    forkserver. Top-level so that Ray and submitit can ship it to their workers."""
    start = time.time()
    job.log.parent.mkdir(parents=True, exist_ok=True)
    with open(job.log, "a") as log:
        log.write(f"== {time.strftime('%Y-%m-%d %H:%M:%S')} on {platform.node()}: "
                  f"clbench run {shlex.join(job.run_args())}\n")
        log.flush()
        offset = log.tell()
        if forked:
            process = _ForkedRun(job, env)
        else:
            process = subprocess.Popen([sys.executable, "-m", "clbench", "run", *job.run_args()],
                                       stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                       env={**_inherited(), **env, "PYTHONUNBUFFERED": "1"})
        with _live_lock:
            _live.add(process)
        try:
            code = process.wait()
        finally:
            with _live_lock:
                _live.discard(process)
    return _outcome(code, job, start, offset, time.time() - start)


def _inherited() -> dict[str, str]:
    """The environment a run's process gets from its worker, but CLBENCH_PLUGINS: the job's options
    name every plugin folder the sweep was started with, and only those (a worker's own variable,
    on a Ray node or in a Slurm job, may differ)."""
    return {key: value for key, value in os.environ.items() if key != "CLBENCH_PLUGINS"}


class _ForkedRun:
    """A `clbench run` forked from the forkserver, waited for and stopped as a Popen is."""

    def __init__(self, job: Job, env: dict[str, str]):
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)  # takes effect when the server starts, at the first run
        self.process = context.Process(target=_run_forked, args=(job, env))
        self.process.start()

    def wait(self) -> int:
        self.process.join()
        return self.process.exitcode

    def terminate(self) -> None:
        self.process.terminate()


def _run_forked(job: Job, env: dict[str, str]) -> None:
    """The forked child: output to the run's log, the job's environment, then the run."""
    log = os.open(job.log, os.O_WRONLY | os.O_APPEND)
    for stream in (1, 2):
        os.dup2(log, stream)
    os.close(log)
    sys.stdout.reconfigure(line_buffering=True)
    sys.stderr.reconfigure(line_buffering=True)
    os.environ.pop("CLBENCH_PLUGINS", None)
    os.environ.update(env)  # CUDA_VISIBLE_DEVICES before CUDA starts
    import torch

    torch.set_num_threads(int(env["OMP_NUM_THREADS"]))  # OpenMP read the variable when the server started
    from clbench.run import run_in_worker

    raise SystemExit(run_in_worker(job.spec, job.options))


def stop_running_children() -> None:
    """Ends this process's `clbench run` children (Ctrl-C, SIGTERM): each keeps its last checkpoint."""
    with _live_lock:
        processes = list(_live)
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait()


def _outcome(code: int, job: Job, start: float, log_offset: int, wall_s: float) -> Outcome:
    if code == ALREADY_RUNNING:
        return Outcome("running elsewhere", "another process holds this run's lock", wall_s)
    if code == 0 and is_completed(job.record):  # trained now, or completed by another worker meanwhile
        return Outcome("completed", None, wall_s)
    record = _fresh_record(job.record, start)
    if code == 1 and record is not None and record.get("status") in ("diverged", "failed"):
        return Outcome(record["status"], record.get("error"), wall_s)
    if code < 0:
        return Outcome("failed", f"killed by signal {-code}", wall_s)
    reason = _last_error_line(job.log, log_offset) or f"clbench run exited with code {code}"
    return Outcome("invalid" if code == 2 else "failed", reason, wall_s)


def _fresh_record(path: Path, since: float) -> dict | None:
    try:
        if path.stat().st_mtime < since:
            return None
    except OSError:
        return None
    return read_record(path)


def _last_error_line(log: Path, offset: int) -> str | None:
    try:
        with open(log, errors="replace") as f:
            f.seek(offset)
            lines = [line.strip() for line in f if line.startswith("clbench:")]
    except OSError:
        return None
    return lines[-1].removeprefix("clbench: ").removeprefix("error: ") if lines else None


def run_local(jobs: list[Job], on_done: OnDone, placement: Placement) -> None:
    """N worker processes on this machine: with GPUs, worker i uses GPU i mod their count
    (CUDA_VISIBLE_DEVICES); the CPU cores are split between the workers (torch's thread count)."""
    gpus = _local_gpu_count(placement.device)
    workers = placement.workers or max(1, gpus)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    threads = placement.cpus_per_run or max(1, cores // workers)
    slots: Queue[int] = Queue()
    for slot in range(workers):
        slots.put(slot)

    def work(job: Job) -> Outcome:
        slot = slots.get()
        try:
            env = _thread_env(threads)
            if gpus:
                env["CUDA_VISIBLE_DEVICES"] = str(slot % gpus)
            return execute(job, env, forked=True)
        finally:
            slots.put(slot)

    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        futures = {pool.submit(work, job): job for job in jobs}
        for future in as_completed(futures):
            on_done(futures[future], future.result())
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        stop_running_children()


def run_ray(jobs: list[Job], on_done: OnDone, placement: Placement) -> None:
    """Ray core tasks, one per run, each asking for its CPUs and GPU; --ray-address joins a running
    cluster, otherwise a local Ray instance starts and stops with the sweep."""
    try:
        ray = import_quietly("ray", "ray")
    except ValueError:
        raise UsageError("--executor ray needs Ray; pip install 'clbench[ray]'") from None
    quiet = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR"}
    if placement.ray_address:
        ray.init(address=placement.ray_address, **quiet)
    else:
        ray.init(**quiet)
    try:
        gpus = placement.gpus_per_run
        if gpus is None:
            gpus = 1 if placement.device != "cpu" and ray.cluster_resources().get("GPU", 0) >= 1 else 0
        cpus = placement.cpus_per_run or 1
        remote = ray.remote(num_cpus=cpus, num_gpus=gpus)(execute)
        waiting, running = list(reversed(jobs)), {}
        limit = placement.workers or len(jobs)
        while waiting or running:
            while waiting and len(running) < limit:
                job = waiting.pop()
                running[remote.remote(job, _thread_env(cpus))] = job
            [ready], _ = ray.wait(list(running), num_returns=1)
            job = running.pop(ready)
            try:
                outcome = ray.get(ready)
            except Exception as exc:  # the task itself broke (a lost node after its retries, say)
                outcome = Outcome("failed", f"ray: {type(exc).__name__}: {str(exc).splitlines()[0]}", 0.0)
            on_done(job, outcome)
    finally:
        ray.shutdown()


class SlurmRun:
    """A sweep run as a submitit job. When Slurm preempts it or its time runs out, submitit calls
    checkpoint() and requeues the same call, which continues from the run's own checkpoint."""

    def __call__(self, job: Job, env: dict[str, str]) -> Outcome:
        return execute(job, env)

    def checkpoint(self, job: Job, env: dict[str, str]):
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, job, env)


def run_slurm(jobs: list[Job], on_done: OnDone, placement: Placement) -> None:
    """One Slurm job array through submitit (partition, time, GPUs, memory as options), followed
    until every job ends; --slurm-local runs the same array on this machine instead."""
    try:
        submitit = import_quietly("submitit", "submitit")
    except ValueError:
        raise UsageError("--executor slurm needs submitit; pip install 'clbench[slurm]'") from None
    if not placement.slurm_local and shutil.which("sbatch") is None:
        raise UsageError("--executor slurm: no Slurm here (sbatch not found); run the sweep on the cluster's login "
                         "node, or add --slurm-local to try the job array on this machine")
    executor = submitit.AutoExecutor(folder=placement.folder / "submitit" / "%j",
                                     cluster="local" if placement.slurm_local else "slurm")
    gpus = placement.gpus_per_run if placement.gpus_per_run is not None else int(placement.device == "cuda")
    cpus = placement.cpus_per_run or 1
    parameters = {"name": "clbench-sweep", "timeout_min": placement.slurm_time_min, "gpus_per_node": gpus,
                  "cpus_per_task": cpus, "slurm_partition": placement.slurm_partition,
                  "mem_gb": placement.slurm_mem_gb, "slurm_array_parallelism": placement.workers}
    executor.update_parameters(**{key: value for key, value in parameters.items() if value is not None})
    submitted = dict(zip(executor.map_array(SlurmRun(), jobs, [_thread_env(cpus)] * len(jobs)), jobs))
    while submitted:
        for handle in [handle for handle in submitted if handle.done()]:
            job = submitted.pop(handle)
            try:
                outcome = handle.result()
            except Exception as exc:  # the job itself broke: out of memory, cancelled, node failure
                outcome = Outcome("failed", f"slurm job {handle.job_id}: {str(exc).strip().splitlines()[-1]}", 0.0)
            on_done(job, outcome)
        if submitted:
            time.sleep(1.0)


def _thread_env(threads: int) -> dict[str, str]:
    return {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}


def _local_gpu_count(device: str) -> int:
    if device == "cpu":
        return 0
    import torch

    return torch.cuda.device_count()


EXECUTORS = {"local": run_local, "ray": run_ray, "slurm": run_slurm}
