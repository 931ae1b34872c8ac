"""Many files at once: ``-j N`` worker processes, results in the order of the files.

Each file runs in a worker (forked on Linux, so the workers start with onnx and the
rules imported) and comes back as its :class:`FileResult`. Workers take files in
order; a file starts only while the bytes of the files in flight (model plus data
files) stay under a memory budget, so two big models are never processed at the
same time, and a file bigger than the budget runs alone. One file, ``-j 1``, a
run against ``--base`` (a git object that stays in this process), or a platform
without fork runs here, in order, with no workers at all.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from onnxslim_lint.budget import budget_stage
from onnxslim_lint.cache import ResultCache
from onnxslim_lint.config import Settings
from onnxslim_lint.datafiles import model_data_files
from onnxslim_lint.results import FileResult
from onnxslim_lint.run_options import RunOptions

__all__ = ["default_jobs", "memory_budget", "process_files"]

# What one file may take beyond its bytes on disk (the interpreter, the index).
_PER_FILE_OVERHEAD = 256 * 1024**2
# The in-flight cost of a file: its bytes this many times (the loaded graph, the
# fix's copy, onnxruntime's session), plus the overhead.
_COST_FACTOR = 3


def default_jobs() -> int:
    return max(1, os.cpu_count() or 1)


def memory_budget() -> int:
    """Half the memory available now (Linux), else 4 GiB."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024 // 2
    except (OSError, ValueError, IndexError):
        pass
    return 4 * 1024**3


Guard = Callable[[Path, str, Exception], FileResult]
# What the workers run with: set before they are forked, so nothing of it is pickled
# (the settings hold read-only mappings that pickle refuses).
_RUN: tuple[Settings, RunOptions, ResultCache | None, Guard] | None = None
_CAN_FORK = sys.platform.startswith("linux") and hasattr(os, "fork")


def process_files(
    files: Sequence[tuple[Path, str]],
    settings: Settings,
    options: RunOptions,
    *,
    jobs: int,
    cache: ResultCache | None,
    guard: Callable[[Path, str, Exception], FileResult],
    budget: int | None = None,
    on_start: Callable[[int], None] | None = None,
    on_finish: Callable[[int], None] | None = None,
) -> Iterator[FileResult]:
    """The result of every ``(path, display)``, in order, as soon as it and all
    before it are done. ``guard`` turns an exception out of one file into that
    file's result (one file never stops the others). ``on_start`` and ``on_finish``
    are told the index of each file as it starts and ends here or in a worker
    (not for a cache hit): which files are in flight, for the progress line."""
    note_start = on_start or (lambda index: None)
    note_finish = on_finish or (lambda index: None)
    done: dict[int, FileResult] = {}
    if cache is not None:  # hits are read here: no worker for a file that is cached
        for index, (path, display) in enumerate(files):
            hit = cache.get(path, display)
            if hit is not None:
                budget_stage(hit, settings, options)
                done[index] = hit
    todo = [index for index in range(len(files)) if index not in done]
    if jobs <= 1 or len(todo) <= 1 or options.base is not None or not _CAN_FORK:
        for index in range(len(files)):
            if index not in done:
                note_start(index)
                done[index] = _one(*files[index], settings, options, cache, guard)
                note_finish(index)
            yield done.pop(index)
        return
    budget = memory_budget() if budget is None else budget
    costs = {index: _cost(files[index][0]) for index in todo}
    context = multiprocessing.get_context("fork")
    global _RUN
    # The forked workers inherit it, without on_phase: that callback is this process's.
    _RUN = (settings, dataclasses.replace(options, on_phase=None), cache, guard)
    next_todo, next_out = 0, 0
    while next_out < len(files):
        # A worker that dies (killed, out of memory) breaks the pool: the files it
        # had become errors, and the rest go on in a new pool.
        running: dict[Future[FileResult], tuple[int, int]] = {}
        in_flight = 0
        with ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=context) as pool:
            broken = False
            while not broken and next_out < len(files):
                while next_todo < len(todo) and len(running) < jobs:
                    index = todo[next_todo]
                    cost = costs[index]
                    if running and in_flight + cost > budget:
                        break  # wait for memory: a big file goes when the others are done
                    note_start(index)
                    future = pool.submit(_in_worker, *files[index])
                    running[future] = (index, cost)
                    in_flight += cost
                    next_todo += 1
                if running:
                    finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                else:
                    finished = set()
                for future in finished:
                    index, cost = running.pop(future)
                    in_flight -= cost
                    note_finish(index)
                    try:
                        done[index] = future.result()
                    except BrokenProcessPool as exc:
                        broken = True
                        done[index] = guard(*files[index], exc)
                    except Exception as exc:  # a result that could not be sent back
                        done[index] = guard(*files[index], exc)
                while next_out in done:
                    yield done.pop(next_out)
                    next_out += 1
            for future, (index, _) in running.items():
                try:
                    done[index] = future.result()
                except Exception as exc:
                    done[index] = guard(*files[index], exc)
                note_finish(index)
        while next_out in done:
            yield done.pop(next_out)
            next_out += 1


def _in_worker(path: Path, display: str) -> FileResult:
    assert _RUN is not None
    settings, options, cache, guard = _RUN
    return _one(path, display, settings, options, cache, guard)


def _one(
    path: Path,
    display: str,
    settings: Settings,
    options: RunOptions,
    cache: ResultCache | None,
    guard: Callable[[Path, str, Exception], FileResult],
) -> FileResult:
    # The pipeline (onnx, the rules, the fix engine) is imported for the first file
    # that is not a cache hit: a run of hits never loads it (the CLI imports it
    # before its progress line starts when some file will need it).
    from onnxslim_lint.pipeline import process_file

    try:
        result = process_file(path, settings, options, display, cache)
    except Exception as exc:
        result = guard(path, display, exc)
    # A fix plan is the rule's private state (it may hold the model's index): it
    # has done its work, and a worker's result must cross a pipe.
    result.findings = [dataclasses.replace(f, plan=None) for f in result.findings]
    result.fixed = [dataclasses.replace(f, plan=None) for f in result.fixed]
    return result


def _cost(path: Path) -> int:
    try:
        size = os.path.getsize(path) + sum(os.path.getsize(p) for p in model_data_files(path))
    except OSError:
        size = 0
    return _COST_FACTOR * size + _PER_FILE_OVERHEAD
