"""`trainer.cuda_graphs`: each training step replayed as one CUDA graph.

A small GAN's step on a GPU is bound by the CPU: a few hundred kernel launches, each a few
microseconds of Python and driver work, for kernels that take less. A CUDA graph records the
launches of a whole step once (every due phase's forward, backward and optimizer step) and
replays them with one call, so the step costs the GPU's time only.

How a step is captured, after the pattern of PyTorch's whole-network capture:
- A plan is the list of (phase, repeats) due at a step; lazy phases (R1 every 16 steps),
  repeats a trick changed and a trick's host decision for the step (`Trick.graph_variant`:
  instance noise once annealed to 0) make other plans, and each plan gets its own graph.
- Each plan first runs `WARMUP` times eagerly on a side stream (optimizers create their state,
  cuDNN picks its algorithms, lazy modules settle), then is captured with static copies of the
  step's batches as inputs, then replayed: the batches of later steps are copied into those
  copies first.
- Optimizers are built capturable (`ganhub.engine.optimizers`): their step counts live on the
  device. Gradients are allocated inside the graph's memory pool.
- The stats a captured step adds (losses, D(x), tricks' device scalars) are the graph's outputs;
  after each replay they go to the run's accumulator as an eager step's would.
- Logging steps, whose diagnostics add other work (accuracies, gradient norms), run eagerly,
  on the same weights and optimizer state.

What cannot be captured is refused before training (`problems`), in one line: a device other
than CUDA, fp16's gradient scaler (it reads a flag on the host every step), torch.compile (its
own CUDA graphs), several processes, and domains or tricks that do not declare that their
per-step work depends on device tensors only (`GANSystem.graph_safe`, `Trick.graph_safe`): a
Python number that changes between steps would be frozen into the graph. A capture that fails
anyway warns once and the run continues eagerly.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import torch
from torch import Tensor

from ganhub.engine.stats import StatsAccumulator
from ganhub.errors import ConfigError
from ganhub.plural import agreeing

if TYPE_CHECKING:
    from ganhub.config.schema import RunConfig
    from ganhub.console import Console
    from ganhub.engine.distributed import DistInfo
    from ganhub.engine.system import GANSystem
    from ganhub.tricks import Trick

WARMUP = 3  # eager runs of a plan before its capture
MAX_GRAPHS = 8  # plans captured at most; others run eagerly (each graph holds its own memory)

# (phase name, repeats) of each due phase, then each trick's `graph_variant` for the step
PlanKey = tuple[Hashable, ...]


class CapturedRun(Protocol):
    """What capturing needs of a run (`ganhub.engine.run.Run` has it): the step's facts, the
    stats it adds to (swapped for a recorder during a capture), the optimizers it steps."""

    config: RunConfig
    device: torch.device
    system: GANSystem
    tricks: list[Trick]
    dist: DistInfo
    console: Console
    stats: StatsAccumulator
    optimizers: dict[str, torch.optim.Optimizer]
    step: int


def problems(
    config: RunConfig, device: torch.device, system: GANSystem, tricks: Sequence[Trick],
    dist: DistInfo,
) -> list[str]:  # fmt: skip
    """Why this run's steps cannot be captured as CUDA graphs (empty when they can)."""
    out = []
    if device.type != "cuda":
        out.append(f"it needs a CUDA device (this run is on {device.type})")
    if config.precision == "16":
        out.append("precision=16's gradient scaler reads a flag on the host every step; use "
                   "precision=bf16 or 32")  # fmt: skip
    if config.trainer.compile:
        out.append("trainer.compile is on (choose one: compiled forwards or captured steps)")
    if dist.enabled:
        out.append("several processes train (their gradient all-reduce is not captured)")
    if not type(system).graph_safe:
        out.append(f"the '{config.plugin}' domain does not declare its phases graph-safe")
    unsafe = [t.name for t in tricks if not t.capturable()]
    if unsafe:
        out.append(
            f"{agreeing(len(unsafe), 'tricks')} {', '.join(unsafe)} "
            f"{'does' if len(unsafe) == 1 else 'do'} per-step work a captured graph cannot "
            "replay (state on the host, or gradients taken inside the step); leave "
            f"{'it' if len(unsafe) == 1 else 'them'} out"
        )
    return out


class StepGraphs:
    """The captured graphs of one run, by plan, and the eager warm-up before each capture."""

    def __init__(self, warn: Callable[..., None]) -> None:  # Console.warn
        self.warn = warn
        self.graphs: dict[PlanKey, _Captured] = {}
        self.warm: dict[PlanKey, int] = {}
        self.enabled = True  # off after a capture failed: the run goes on eagerly
        self.side: torch.cuda.Stream | None = None  # where warm-up steps run

    @classmethod
    def for_run(cls, run: CapturedRun) -> StepGraphs:
        """The run's graphs; a ConfigError naming every reason when its steps cannot be."""
        found = problems(run.config, run.device, run.system, run.tricks, run.dist)
        if found:
            raise ConfigError(f"trainer.cuda_graphs=true: {'; '.join(found)}")
        return cls(run.console.warn)

    def step(
        self,
        run: CapturedRun,
        key: PlanKey,
        inputs: list[Any],
        run_plan: Callable[[list[Any]], None],
    ) -> None:
        """Run one step's plan on `inputs` (its batches): replayed when captured, else eagerly
        (warm-up, another batch shape, after a failed capture), captured when warm."""
        captured = self.graphs.get(key)
        if captured is not None and captured.fits(inputs):
            captured.replay(inputs, run.stats)
            return
        warm = self.warm.get(key, 0)
        if captured is not None or not self.enabled or len(self.graphs) >= MAX_GRAPHS:
            run_plan(inputs)
        elif warm < WARMUP or not _capturable(inputs):
            self.warm[key] = warm + 1
            self.side = self.side or torch.cuda.Stream()
            _on_side_stream(self.side, run_plan, inputs)
        else:
            captured = self._capture(run, key, inputs, run_plan)
            if captured is None:
                run_plan(inputs)
            else:
                captured.replay(inputs, run.stats)

    def _capture(
        self,
        run: CapturedRun,
        key: PlanKey,
        inputs: list[Any],
        run_plan: Callable[[list[Any]], None],
    ) -> _Captured | None:
        """Record the plan on static copies of `inputs`; None (and a warning) if it fails."""
        static = [_clone(batch) for batch in inputs]
        graph = torch.cuda.CUDAGraph()
        recorder = _Recorder()
        stats, run.stats = run.stats, recorder
        for optimizer in run.optimizers.values():  # gradients are born in the graph's pool
            optimizer.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        try:
            # thread_local: a DataLoader's pin-memory thread may call CUDA during the capture
            with torch.cuda.graph(graph, capture_error_mode="thread_local"):
                run_plan(static)
        except Exception as exc:  # an op that syncs or allocates on the host, a library's hook
            self.enabled = False
            first = (str(exc).strip().splitlines() or [""])[0]
            self.warn(  # this process's GPU: another rank may have captured its step
                f"trainer.cuda_graphs: step {run.step} could not be captured "
                f"({type(exc).__name__}: {first[:200]}); training continues without CUDA graphs",
                every_rank=True,
            )
            for optimizer in run.optimizers.values():
                optimizer.zero_grad(set_to_none=True)
            return None
        finally:
            run.stats = stats
        captured = _Captured(graph, static, recorder.calls)
        self.graphs[key] = captured
        return captured


class _Captured:
    """One plan's graph, its static inputs and the stats it outputs."""

    def __init__(
        self, graph: torch.cuda.CUDAGraph, static: list[Any],
        calls: list[tuple[dict[str, Tensor], str | None]],
    ) -> None:  # fmt: skip
        self.graph = graph
        self.static = static
        self.calls = calls
        self.shapes = [_shapes(b) for b in static]

    def fits(self, inputs: list[Any]) -> bool:
        """Whether `inputs` have the shapes and dtypes captured (then they can be copied in)."""
        return [_shapes(b) for b in inputs] == self.shapes

    def replay(self, inputs: list[Any], stats: StatsAccumulator) -> None:
        """Copy the batches in, replay the step, add its stats as an eager step would."""
        for static, batch in zip(self.static, inputs):
            _fill(static, batch)
        self.graph.replay()
        for values, watch in self.calls:
            stats.add(values, watch=watch)


class _Recorder(StatsAccumulator):
    """Stands in for the run's stats while a step is captured: keeps what would be added."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[dict[str, Tensor], str | None]] = []

    def add(self, values: dict[str, Tensor], watch: str | None = None) -> None:
        """Keep detached references: the graph writes each replay's values into them."""
        self.calls.append(({k: v.detach() for k, v in values.items()}, watch))


def _on_side_stream(
    side: torch.cuda.Stream, run_plan: Callable[[list[Any]], None], inputs: list[Any]
) -> None:
    """Run eagerly on a side stream (PyTorch's advice before a capture), then rejoin."""
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        run_plan(inputs)
    torch.cuda.current_stream().wait_stream(side)


def _leaves(batch: Any) -> list[Any]:
    if isinstance(batch, tuple | list):
        return [leaf for b in batch for leaf in _leaves(b)]
    if isinstance(batch, dict):
        return [leaf for k in sorted(batch) for leaf in _leaves(batch[k])]
    return [batch]


def _capturable(inputs: list[Any]) -> bool:
    """Batches of tensors only (a string or number in a batch would be frozen)."""
    return all(isinstance(leaf, Tensor) for b in inputs for leaf in _leaves(b))


def _shapes(batch: Any) -> list[tuple[Any, ...]]:
    return [(tuple(t.shape), t.dtype, t.stride()) for t in _leaves(batch)]


def _clone(batch: Any) -> Any:
    if isinstance(batch, Tensor):
        return batch.clone()
    if isinstance(batch, tuple | list):
        return type(batch)(_clone(b) for b in batch)
    if isinstance(batch, dict):
        return {k: _clone(v) for k, v in batch.items()}
    return batch


def _fill(static: Any, batch: Any) -> None:
    for target, source in zip(_leaves(static), _leaves(batch)):
        target.copy_(source)
