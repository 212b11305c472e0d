"""Data-parallel training over several processes with ``torch.distributed`` (DDP).

How a run with ``config.distributed.nproc = N > 1`` goes:

1. ``train_segmenter`` / ``train_detector`` are decorated with ``launches_data_parallel``. Called
   outside a process group, the decorator writes every argument (manifest frames, config, the
   segmenter of a transfer variant, ...) to a job file in a temporary folder and starts N workers
   with torch's elastic launcher (what ``torchrun`` runs: a c10d rendezvous on 127.0.0.1 and a
   free port, ``max_restarts=0``). Workers are fresh ``python`` processes running ``run_worker``
   (as torchrun starts a script): nothing is shared with the parent's memory, and the caller's
   ``__main__`` is not re-imported (no ``if __name__ == "__main__"`` guard needed).
2. Each worker joins the process group (``gloo`` on CPU, ``nccl`` on CUDA, with a timeout) and
   calls the same training function, which now sees an initialised group: its loader takes this
   rank's shard of every global batch (``DistributedEpochShuffleSampler``), the model gets
   synchronised BatchNorm and a ``DistributedDataParallel`` wrapper, and ``fit`` averages the
   training loss over ranks, takes rank 0's validation results and lets rank 0 alone write the
   checkpoint. Rank 0 saves the returned training result (model included) for the parent.
3. The parent loads rank 0's result and returns it: the caller cannot tell the difference
   from a single-process run, except in speed.

**Epoch callbacks (MLflow logging) run once, in the parent.** Rank 0 appends each epoch's record
to a file; the parent polls it while the launcher runs (in a background thread) and calls the
caller's ``epoch_callback`` in its own main thread, as the epochs finish. This keeps the callback
where the caller's context lives: MLflow's active run is thread- and process-local and the
``epoch_callback`` may be any closure, so running it inside a worker would need the run id, the
tracking URI and a picklable callback, and would break callers that are not MLflow at all. It
also keeps the single-process semantics: a callback that raises stops the training (the parent
terminates the workers) and the exception reaches the caller.

**Failures are errors within seconds, never hangs.** The launcher's monitor polls the workers
every ``MONITOR_INTERVAL_S``; when one exits abnormally (exception, ``SIGKILL`` by the OOM
killer, ...), the others are stopped and the parent raises ``DistributedTrainingError`` naming
each failed rank with its exit code or signal and the worker's exception message. A rank that
is alive but stuck makes its peers' collectives fail after ``distributed.timeout_s`` (and is
then killed ``SHUTDOWN_TIMEOUT_S`` later). Workers die with the parent process (Linux) instead of
training on as orphans.

**Resume.** Checkpoints hold the unwrapped model's state (the same keys as a single process), the
run key leaves ``distributed`` out, and the global batches do not depend on N: a run interrupted
with N processes resumes with N, with another N, or in a single process, and vice versa.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import inspect
import json
import logging
import os
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from facetransfer.runtime.device import resolve_device
from facetransfer.runtime.process_group import is_distributed, world_size
from facetransfer.training.settings import TrainConfig

logger = logging.getLogger(__name__)

MONITOR_INTERVAL_S = 0.5
"""How often the launcher checks that every worker is alive."""
SHUTDOWN_TIMEOUT_S = 5
"""Once a worker has failed, seconds the others get after SIGTERM before SIGKILL (a frozen process
ignores SIGTERM; checkpoints are written atomically, so nothing needs a graceful exit)."""
POLL_INTERVAL_S = 0.2
"""How often the parent looks for new epoch records while the workers train."""
JOB_FILE, RESULT_FILE, EPOCHS_FILE = "job.pt", "result.pt", "epochs.jsonl"

Function = TypeVar("Function", bound=Callable[..., Any])


class DistributedTrainingError(RuntimeError):
    """A data-parallel training process failed (the message names the ranks and why)."""


# --- inside the process group (workers) ---------------------------------------------------------


def _collective_device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def average_over_processes(value: float) -> float:
    """Mean of ``value`` over all processes (``value`` itself outside a group)."""
    if world_size() == 1:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=_collective_device())
    dist.all_reduce(tensor)
    return float(tensor.item()) / world_size()


def broadcast_from_main(value: Any) -> Any:
    """Rank 0's ``value`` on every process (picklable objects; ``value`` itself outside a group).

    Used for decisions every rank must take identically (validation results drive early
    stopping): kernels that are not bit-reproducible could otherwise make ranks disagree, and a
    rank that stops while the others train on would leave them waiting in a collective.
    """
    if world_size() == 1:
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=0, device=_collective_device())
    return holder[0]


# --- the launch (parent) ------------------------------------------------------------------------


def launches_data_parallel(function: Function) -> Function:
    """Run ``function`` (keyword ``config``: a ``TrainConfig``) on ``config.distributed.nproc`` processes.

    With ``nproc == 1``, or when already inside a process group (a worker, or a user's own
    ``torchrun``), the call goes straight through. Otherwise the call is re-issued in N workers
    and rank 0's return value is returned; its ``epoch_callback`` keyword is called here, once
    per epoch, as rank 0 finishes each (see the module docstring).
    """
    signature = inspect.signature(function)

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        config: TrainConfig = bound.arguments["config"]
        if config.distributed.nproc == 1 or is_distributed():
            return function(*args, **kwargs)
        arguments = dict(bound.arguments)
        epoch_callback = arguments.pop("epoch_callback", None)
        return launch(wrapper, arguments, config=config, epoch_callback=epoch_callback)

    return wrapper  # type: ignore[return-value]


def resolve_backend(config: TrainConfig) -> str:
    """The process-group backend of ``config``: ``auto`` is ``nccl`` on CUDA, ``gloo`` on CPU.

    Raises:
        ValueError: the device, backend and process count do not fit together (names them).
    """
    nproc, backend = config.distributed.nproc, config.distributed.backend
    device = resolve_device(config.device)
    if device.type == "cuda" and config.device.startswith("cuda:"):
        raise ValueError(
            f"TrainConfig.device {config.device!r} names one GPU, but with distributed.nproc={nproc} "
            "process r uses GPU r: set device to 'cuda' or 'auto' (CUDA_VISIBLE_DEVICES selects GPUs)"
        )
    if device.type == "cuda" and nproc > torch.cuda.device_count():
        raise ValueError(
            f"distributed.nproc={nproc} needs one GPU per process, but {torch.cuda.device_count()} "
            "CUDA devices are visible"
        )
    if backend == "auto":
        return "nccl" if device.type == "cuda" else "gloo"
    if backend == "nccl" and device.type != "cuda":
        raise ValueError("distributed.backend 'nccl' needs CUDA; training runs on the CPU here: use 'gloo'")
    return backend


@dataclass(frozen=True)
class _Job:
    """Everything a worker needs, written by the parent (passed by value, not by reference)."""

    function: Callable[..., Any]
    arguments: dict[str, Any]
    backend: str
    timeout_s: float
    cpu_threads: int | None
    parent_pid: int
    log_level: int


def launch(
    function: Callable[..., Any],
    arguments: dict[str, Any],
    *,
    config: TrainConfig,
    epoch_callback: Callable[[int, dict[str, float]], None] | None = None,
) -> Any:
    """Call ``function(**arguments)`` in ``config.distributed.nproc`` workers; return rank 0's result.

    Raises:
        DistributedTrainingError: a worker failed or was killed (the others are stopped).
        ValueError: device and backend settings that cannot work (see ``resolve_backend``).
    """
    nproc, backend = config.distributed.nproc, resolve_backend(config)
    # Without an explicit thread count, share the cores instead of oversubscribing them N times.
    threads = config.cpu_threads or (max(1, (os.cpu_count() or 1) // nproc) if backend == "gloo" else None)
    with tempfile.TemporaryDirectory(prefix="facetransfer-ddp-") as name:
        folder = Path(name)
        job = _Job(
            function,
            arguments,
            backend,
            config.distributed.timeout_s,
            threads,
            os.getpid(),
            logging.getLogger("facetransfer").getEffectiveLevel(),
        )
        torch.save(job, folder / JOB_FILE)
        started = time.perf_counter()
        logger.info("training in %d processes (backend %s)", nproc, backend)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="facetransfer-launcher") as pool:
            future = pool.submit(_run_launcher, nproc, folder)
            try:
                _forward_epoch_records(future, folder / EPOCHS_FILE, epoch_callback)
            except BaseException:
                _stop_workers(folder, future)
                raise
        _raise_on_failure(future, nproc)
        logger.info("%d training processes finished in %.1f s", nproc, time.perf_counter() - started)
        return torch.load(folder / RESULT_FILE, map_location="cpu", weights_only=False)


class _WithoutOrphanWarning(logging.Filter):
    """Drops the elastic agent's warning that, run in a thread, it cannot forward signals to its
    workers: ours die with this process anyway (``_die_with_parent``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Failed to register signal handlers" not in record.getMessage()


def _run_launcher(nproc: int, folder: Path) -> dict[int, Any]:
    from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    agent_logger = logging.getLogger("torch.distributed.elastic.multiprocessing.api")
    if not any(isinstance(f, _WithoutOrphanWarning) for f in agent_logger.filters):
        agent_logger.addFilter(_WithoutOrphanWarning())
    launch_config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=nproc,
        run_id=f"facetransfer-{uuid.uuid4().hex[:12]}",
        rdzv_backend="c10d",
        rdzv_endpoint="127.0.0.1:0",  # a free port, as torchrun --standalone
        local_addr="127.0.0.1",
        max_restarts=0,
        monitor_interval=MONITOR_INTERVAL_S,
        shutdown_timeout=SHUTDOWN_TIMEOUT_S,
        logs_specs=DefaultLogsSpecs(log_dir=str(folder / "logs")),
    )
    worker = "from facetransfer.training.distributed import run_worker; run_worker()"
    return elastic_launch(launch_config, sys.executable)("-c", worker, str(folder / JOB_FILE))


def _forward_epoch_records(
    future: Future, path: Path, epoch_callback: Callable[[int, dict[str, float]], None] | None
) -> None:
    """Call ``epoch_callback`` for each record rank 0 appends to ``path`` until the launch ends."""
    offset = 0
    while True:
        finished = future.done()
        if path.is_file():
            with path.open("rb") as stream:
                stream.seek(offset)
                data = stream.read()
            complete = data[: data.rfind(b"\n") + 1]  # a line still being written waits
            offset += len(complete)
            for line in complete.splitlines():
                record = json.loads(line)
                if epoch_callback is not None:
                    epoch_callback(int(record["epoch"]), record["metrics"])
        if finished:
            return
        time.sleep(POLL_INTERVAL_S)


def _stop_workers(folder: Path, future: Future) -> None:
    """Terminate the workers (their pid files) until the launcher has seen them all end."""
    while not future.done():
        for pid_file in folder.glob("rank*.pid"):
            # The process may have ended since it wrote its file: nothing left to stop then.
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid_file.read_text()), signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            future.exception(timeout=1.0)
    logger.info("stopped the training processes: %s", future.exception())


def _raise_on_failure(future: Future, nproc: int) -> None:
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    error = future.exception()
    if error is None:
        return
    if not isinstance(error, ChildFailedError):
        raise DistributedTrainingError(f"launching {nproc} training processes failed: {error}") from error
    failures = sorted(
        error.failures.items(), key=lambda item: (_root_cause_order(item[1]), item[1].timestamp)
    )
    described = []
    for failed_rank, failure in failures:
        if failure.exitcode < 0:
            how = "stopped" if failure.exitcode == -signal.SIGTERM else "killed"
            described.append(f"rank {failed_rank} (pid {failure.pid}) was {how} by {failure.signal_name()}")
            continue
        message = failure.message
        if isinstance(message, dict):
            logger.error(
                "rank %d failed:\n%s", failed_rank, message.get("extraInfo", {}).get("py_callstack", "")
            )
            message = message.get("message", "")
        described.append(
            f"rank {failed_rank} (pid {failure.pid}) exited with code {failure.exitcode}: {message}"
        )
    raise DistributedTrainingError(
        f"data-parallel training in {nproc} processes failed: {'; '.join(described)}. The other "
        "processes were stopped; a rerun resumes from the last epoch's checkpoint."
    ) from error


def _root_cause_order(failure: Any) -> int:
    """Root causes first: a kill by a signal (OOM killer, crash), then an exception in a rank,
    last SIGTERM (how the launcher stops the remaining ranks once one has failed)."""
    if failure.exitcode < 0:
        return 2 if failure.exitcode == -signal.SIGTERM else 0
    return 1


def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGKILL this worker when the launching process dies (no orphaned trainers)."""
    if not sys.platform.startswith("linux"):
        return
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)


class _EpochRecordWriter:
    """Rank 0's ``epoch_callback``: one JSON line per epoch for the parent to forward."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, epoch: int, metrics: dict[str, float]) -> None:
        with self.path.open("a") as stream:
            stream.write(json.dumps({"epoch": epoch, "metrics": metrics}) + "\n")


def run_worker() -> None:
    """Entry point of a worker process started by ``launch`` (argument: the job file).

    ``record`` writes an exception's message and traceback where the launcher reads them, so
    the parent's ``DistributedTrainingError`` can say what went wrong in which rank.
    """
    from torch.distributed.elastic.multiprocessing.errors import record

    record(_train_in_worker)(Path(sys.argv[1]))


def _train_in_worker(job_path: Path) -> None:
    from facetransfer.environment import quiet_third_party_telemetry

    quiet_third_party_telemetry()
    job: _Job = torch.load(job_path, weights_only=False)
    _die_with_parent(job.parent_pid)
    own_rank, local_rank = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    folder = job_path.parent
    (folder / f"rank{own_rank}.pid").write_text(str(os.getpid()))
    logging.basicConfig(
        level=job.log_level if own_rank == 0 else max(job.log_level, logging.WARNING),
        format=f"[rank {own_rank}] %(levelname)s %(name)s: %(message)s",
    )
    if job.cpu_threads is not None:
        torch.set_num_threads(job.cpu_threads)
    device_id = None
    if job.backend == "nccl":
        torch.cuda.set_device(local_rank)
        device_id = torch.device("cuda", local_rank)
    dist.init_process_group(job.backend, timeout=timedelta(seconds=job.timeout_s), device_id=device_id)
    try:
        callback = _EpochRecordWriter(folder / EPOCHS_FILE) if own_rank == 0 else None
        result = job.function(**job.arguments, epoch_callback=callback)
        if own_rank == 0:
            partial = folder / (RESULT_FILE + ".partial")
            torch.save(result, partial)
            os.replace(partial, folder / RESULT_FILE)
    finally:
        dist.destroy_process_group()
