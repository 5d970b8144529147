"""`trainer.compile`: torch.compile of each generator's and discriminator's forward on its own.

Compiling the modules, not the phase, keeps the loop's Python (tricks, stats, optimizer steps)
outside the compiler, so a trick never causes a graph break or a recompile, and the optimizer
step stays one fused or foreach launch (`ganhub.engine.optimizers`). Forwards that a penalty
differentiates twice run eager (`TrainContext.twice_differentiable`).

When the compiler itself fails (inductor's generated code, dynamo's tracing), the error is
torch's, not the user's: `compiler_failure` turns it into one line saying so and what to do,
instead of pages of generated code.
"""

from __future__ import annotations

from types import TracebackType

import torch

from ganhub.engine.system import GANSystem
from ganhub.errors import ConfigError, GanhubError

# Where a frame of a compiler failure lives: torch's compiler packages and the Python files
# inductor generates (in its cache directory, torchinductor_<user>).
_COMPILER_PATHS = ("/torch/_inductor/", "/torch/_dynamo/", "/torch/_functorch/", "torchinductor")


def compile_models(system: GANSystem) -> None:
    """torch.compile every generator and discriminator of `system` in place (their state_dict
    keys do not change, so checkpoints load either way)."""
    for name in system.generator_names + system.discriminator_names:
        getattr(system, name).compile()


def compiler_failure(error: BaseException) -> ConfigError | None:
    """A one-line ConfigError for an exception raised inside torch's compiler (dynamo,
    inductor or its generated code), naming the cause and the way out; None for any other."""
    if not isinstance(error, Exception) or isinstance(error, GanhubError):
        return None  # Ctrl-C, and ganhub's own one-line errors, pass through as they are
    if not any(_in_compiler(e.__traceback__) for e in _chain(error)):
        return None
    text = str(error).strip().splitlines()
    first = f"{type(error).__name__}: {text[0] if text else ''}"[:240]
    known = ""
    if "stride" in first:
        # inductor predicts contiguous strides for convolution_backward where cuDNN returns
        # channels_last ones (pytorch#171622); on an H200 with torch 2.11 it hit dcgan at width
        # 128 in bf16 + channels_last, with inductor's layout optimisation on and off alike
        known = (
            "; inductor's stride check of a convolution backward is a known compiler bug with "
            "channels_last tensors (pytorch#171622): try without trainer.channels_last, or "
            "trainer.cuda_graphs=true instead of trainer.compile"
        )
    return ConfigError(
        f"trainer.compile=true: torch.compile failed on this model with torch "
        f"{torch.__version__} ({first}){known}; train without trainer.compile"
    )


def _chain(error: BaseException) -> list[BaseException]:
    """The error and the errors it was raised from or during, each once."""
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _in_compiler(tb: TracebackType | None) -> bool:
    while tb is not None:
        path = tb.tb_frame.f_code.co_filename.replace("\\", "/")
        if any(part in path for part in _COMPILER_PATHS):
            return True
        tb = tb.tb_next
    return False
