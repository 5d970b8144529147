"""A library leaves its caller's process as it found it: `ganhub.train` and the loaded model's
`sample` change no global state a notebook or a training script of its own relies on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .conftest import TINY_TOY


def test_training_and_its_report_leave_the_matplotlib_backend_alone(workdir: Path) -> None:
    """toy2d's scatter plots and `ganhub report` switched the process to Agg: a notebook lost
    its inline plots after `ganhub.train(plugin="toy2d")`."""
    code = (
        "import sys, matplotlib\n"
        "matplotlib.use('svg')\n"
        "import ganhub\n"
        f"ganhub.train({[*TINY_TOY, 'name=p']!r})\n"
        "from ganhub.cli import main\n"
        "main(['report', 'runs/p'])\n"
        "print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "svg False"
    assert list((workdir / "runs/p/samples").glob("*.png"))  # the scatter plot was drawn
    assert list((workdir / "runs/p/report").glob("*.png"))


def test_train_gives_back_the_callers_seeds_flags_and_grad_mode(workdir: Path) -> None:
    """train() reseeded every RNG and left torch's deterministic flags and cuDNN autotuning
    as the run set them; under the caller's no_grad() / inference_mode() it failed."""
    import os
    import random

    import numpy as np
    import torch

    import ganhub

    torch.manual_seed(123)
    random.seed(123)
    np.random.seed(123)
    expected = (torch.rand(3), random.random(), np.random.rand())
    torch.manual_seed(123)
    random.seed(123)
    np.random.seed(123)
    torch.use_deterministic_algorithms(False)
    torch.backends.cudnn.benchmark = False
    os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
    with torch.no_grad():
        ganhub.train([*TINY_TOY, "deterministic=true", "name=a"])
    with torch.inference_mode():
        ganhub.train([*TINY_TOY, "name=b"])
    assert torch.equal(torch.rand(3), expected[0])
    assert (random.random(), np.random.rand()) == expected[1:]
    assert not torch.are_deterministic_algorithms_enabled()
    assert not torch.backends.cudnn.benchmark and "CUBLAS_WORKSPACE_CONFIG" not in os.environ
    # both runs trained (gradients were on inside) and equal what a plain call trains
    fresh = ganhub.train([*TINY_TOY, "name=c"])
    weights = [ganhub.load(f"runs/{n}").system.state_dict() for n in ("b", "c")]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert fresh["steps"] == 4


def test_python_values_are_config_values(workdir: Path) -> None:
    """Path, NumPy numbers and torch devices as keyword overrides raised yaml's
    RepresenterError; a tuple of tricks in a dict config an AttributeError."""
    import numpy as np
    import torch

    import ganhub

    args = dict(plugin="toy2d", trainer__steps=2, trainer__progress=False, loggers=[])
    summary = ganhub.train(**args, out_dir=workdir / "elsewhere", seed=np.arange(3)[1],
                           optim__G__lr=np.float32(1e-3), device=torch.device("cpu"))  # fmt: skip
    model = ganhub.load(summary["run_dir"])
    assert Path(summary["run_dir"]).parent == workdir / "elsewhere"
    assert model.config.seed == 1 and model.config.optim.G.lr == float(np.float32(1e-3))
    for tricks in (("ema",), {"ema"}):
        dict_config = {"plugin": "toy2d", "tricks": tricks, "trainer": {"steps": 2}}
        assert ganhub.train(dict_config, trainer__progress=False)["steps"] == 2
    # a dotted key next to a dict joins its section, as trainer__batch_size does
    summary = ganhub.train(
        {"plugin": "toy2d", "trainer": {"steps": 2}}, **{"trainer.batch_size": 8}
    )
    assert ganhub.load(summary["run_dir"]).config.trainer.batch_size == 8


def test_sampling_keeps_the_callers_train_mode_and_takes_array_labels(workdir: Path) -> None:
    import numpy as np
    import pytest
    import torch

    import ganhub
    from ganhub.errors import UsageError

    from .conftest import TINY_DCGAN

    model = ganhub.load(ganhub.train([*TINY_DCGAN, "model.conditional=true"])["run_dir"])
    model.generator.train()  # a caller fine-tuning the generator previews it
    assert model.sample(2, labels=np.array([1, 2])).shape[0] == 2
    model.write_samples(workdir / "grids", n=4)
    assert all(m.training for m in model.generator.modules())
    assert model.sample(2, labels=np.int64(3)).shape[0] == 2  # one class for all
    with pytest.raises(
        UsageError, match=r"integer tensor of shape \(2,\) is needed, got torch.bool"
    ):
        model.sample(2, labels=torch.tensor([True, False]))
    with pytest.raises(UsageError, match=r"ganhub.load\(device=None\): give 'cpu'"):
        ganhub.load(model.config.out_dir, device=None)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match=r"ganhub.train\(hub='x'\): give a ganhub.plugins.Hub"):
        ganhub.train(TINY_TOY, hub="x")  # type: ignore[arg-type]


def test_an_int_label_is_an_index_and_text_a_name(workdir: Path) -> None:
    """Classes named 1, 10, 2 (ImageFolder's text order): labels=1 once meant the class named
    '1' (index 0) while a tensor of 1 meant index 1, and index 2 was unreachable by int."""
    import numpy as np
    import pytest
    from PIL import Image

    import ganhub
    from ganhub.errors import UsageError

    from .conftest import TINY_DCGAN

    for name in ("1", "2", "10"):
        (workdir / "data" / name).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(
                workdir / f"data/{name}/{i}.png"
            )
    model = ganhub.load(ganhub.train([*TINY_DCGAN, "model.conditional=true",
                                      "data.path=data", "data.channels=3", "eval.metrics=[]",
                                      "trainer.batch_size=4"])["run_dir"])  # fmt: skip
    spec = model.system.capabilities().labels
    assert spec is not None and spec.class_names() == ("1", "10", "2")
    assert [int(model.labels_for(i, 1)[0]) for i in (0, 1, 2)] == [0, 1, 2]
    assert [int(model.labels_for(t, 1)[0]) for t in ("1", "10", "2")] == [0, 1, 2]
    assert int(model.labels_for(np.int64(2), 1)[0]) == 2
    with pytest.raises(
        UsageError,
        match=r"label 3: a class index is 0\.\.2, or a class name as text \('1', '10', '2'\)",
    ):
        model.labels_for(3, 1)
