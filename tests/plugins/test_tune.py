"""ganhub tune: search-space parsing, pruning, resume after a kill, PostgreSQL workers, arch spaces."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from ganhub_tune.cli import parse_options
from ganhub_tune.samplers import make_sampler
from ganhub_tune.space import decode, encode, load_space, parse_space
from ganhub_tune.storage import _driver_url
from ganhub_tune.study import prepare

from ganhub.config.resolve import resolve
from ganhub.engine.system import BuildHints
from ganhub.errors import ConfigError
from ganhub.plugins import get_hub

optuna = pytest.importorskip("optuna")

# a few hundred tiny steps: every trial takes about a second on one CPU core
TINY = [
    "data.dataset=ring",
    "trainer.steps=200",
    "trainer.eval_every=50",
    "trainer.batch_size=64",
    "data.n_samples=2000",
    "model.g_hidden=32",
    "model.d_hidden=32",
    "eval.n_samples=500",
    "loss=nonsaturating",
    "tricks=[]",
    "optim.G.betas=[0.5,0.999]",
]
LR_SPACE = {
    "params": {
        "optim.G.lr": {"type": "float", "low": 1e-9, "high": 1e-2, "log": True},
        "optim.D.lr": {"type": "float", "low": 1e-9, "high": 1e-2, "log": True},
    }
}


def _space_file(tmp_path: Path, spec: dict[str, Any] = LR_SPACE) -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _tune_args(tmp_path: Path, study: str, *extra: str) -> list[str]:
    return ["tune", "plugin=toy2d", f"out={tmp_path / 'studies'}", f"study={study}",
            f"search={_space_file(tmp_path)}", "objective=reverse_kl", *TINY, *extra]  # fmt: skip


def _load(url: str, name: str) -> Any:
    return optuna.load_study(study_name=name, storage=_driver_url(url))


# -- the search-space parser ---------------------------------------------------------------


def test_parser_reads_every_kind_of_param() -> None:
    space = parse_space({
        "objective": "modes",
        "base": {"data": {"dataset": "grid"}, "trainer.steps": 100},
        "params": {
            "optim.G.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
            "model.g_layers": {"type": "int", "low": 2, "high": 6, "step": 2},
            "tricks": [[], ["r1"]],
            "trick.r1.gamma": {"type": "float", "low": 0.1, "high": 10, "when": {"tricks": [["r1"]]}},
        },
    })  # fmt: skip
    assert [p.key for p in space.params] == [
        "optim.G.lr",
        "model.g_layers",
        "tricks",
        "trick.r1.gamma",
    ]
    assert space.base == {"data.dataset": "grid", "trainer.steps": 100}
    lr, layers, tricks, gamma = space.params
    assert lr.log and lr.low == 1e-4 and layers.grid_values() == [2, 4, 6]
    assert tricks.grid_values() == ["[]", "[r1]"]
    assert [decode(encode(c), tricks) for c in tricks.choices] == [[], ["r1"]]
    assert not gamma.is_active({"tricks": []}) and gamma.is_active({"tricks": ["r1"]})


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"optim.G.lr": {"type": "flaot", "low": 1, "high": 2}}, "'optim.G.lr': type='flaot' (did you mean 'float'?)"),
        ({"optim.G.lr": {"type": "float", "low": 2, "high": 1}}, "'optim.G.lr': low=2 must be below high=1"),
        ({"optim.G.lr": {"type": "float", "low": 0, "high": 1, "log": True}}, "log: true needs low > 0"),
        ({"model.g_layers": {"type": "int", "low": 1.5, "high": 3}}, "'low' must be an integer, got 1.5"),
        ({"loss": {"type": "categorical"}}, "'loss': a categorical needs a non-empty 'choices' list"),
        ({"loss": {"type": "categorical", "choices": ["a"], "low": 1}}, "'low' does not apply to a categorical"),
        ({"loss": {"type": "categorical", "choice": ["a"]}}, "unknown field 'choice' (did you mean 'choices'?)"),
        ({"x": {"type": "float", "low": 0, "high": 1, "when": {"loss": ["a"]}}, "loss": ["a", "b"]},
         "'x' has when: {loss: ...} but 'loss' is not a param listed before it"),
        ({"loss": "hinge"}, "param 'loss' must be a mapping"),
        ({"optim.G.lr": {"type": "float", "low": float("nan"), "high": 1}}, "'low' must be a finite number, got nan"),
        ({"optim.G.lr": {"type": "float", "low": 0, "high": float("inf")}}, "'high' must be a finite number, got inf"),
        ({"optim.G.lr": {"type": "float", "low": -1e308, "high": 1e308}}, "is wider than a float can hold"),
        ({"optim.G.lr": {"type": "float", "low": 0, "high": 1, "step": float("inf")}}, "'step' must be a positive number"),
    ],
)  # fmt: skip
def test_parser_errors_name_the_key_and_what_is_valid(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_space({"params": params}, "space.yaml")
    assert message in str(err.value) and str(err.value).startswith("space.yaml")


def test_parser_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_space(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match=r"search=.*: is a folder; give a search-space YAML"):
        load_space(tmp_path)
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00params")
    with pytest.raises(ConfigError, match=r"binary.yaml: not UTF-8 text"):
        load_space(tmp_path / "binary.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("params:\n  a: [1, 2\n")
    with pytest.raises(ConfigError, match=r"not valid YAML at line \d"):
        load_space(bad)
    bad.write_text("parms: {}\n")
    with pytest.raises(ConfigError, match=r"unknown top-level key 'parms' \(did you mean 'params'"):
        load_space(bad)


def test_space_files_read_numbers_as_run_configs_do(tmp_path: Path) -> None:
    space = tmp_path / "space.yaml"  # YAML 1.1 read `1e-5` as text and refused the range
    space.write_text("params:\n  optim.G.lr: {type: float, low: 1e-5, high: 1e-3, log: true}\n")
    (param,) = load_space(space).params
    assert (param.low, param.high) == (1e-5, 1e-3)


def test_grid_steps_through_ranges_and_spreads_those_without_a_step() -> None:
    def grid(**spec: Any) -> list[Any]:
        return parse_space({"params": {"k": spec}}).params[0].grid_values()

    # every built-in space has float ranges without a step: the grid used to refuse them all
    assert grid(type="float", low=5e-5, high=5e-3, log=True) == [5e-5, 1.58e-4, 5e-4, 1.58e-3, 5e-3]
    assert grid(type="float", low=0.0, high=1.0) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert grid(type="int", low=16, high=1024, log=True) == [16, 45, 128, 362, 1024]
    assert grid(type="int", low=1, high=3, log=True) == [1, 2, 3]  # each integer once
    assert grid(type="int", low=2, high=4) == [2, 3, 4]
    assert grid(type="int", low=0, high=10, step=3) == [0, 3, 6, 9]
    assert grid(type="float", low=0.1, high=0.35, step=0.05) == [0.1, 0.15, 0.2, 0.25, 0.3, 0.35]


def test_unknown_config_key_and_options_are_clear_errors(tmp_path: Path, cli: Any) -> None:
    spec = {"params": {"optim.G.rl": {"type": "float", "low": 1e-4, "high": 1e-3}}}
    opts = parse_options(
        ["plugin=toy2d", f"search={_space_file(tmp_path, spec)}", f"out={tmp_path}"]
    )
    with pytest.raises(
        ConfigError,
        match=r"space.yaml: param 'optim.G.rl' is not a config key of toy2d \(did you mean 'optim.G.lr'\?\)",
    ):  # the file is named: a key may come from the built-in space or from it
        prepare(opts)  # fmt: skip
    code, _, err = cli("tune", "plugin=toy2d", "trials=many")
    assert code == 2 and err.strip() == "ganhub: error: trials='many': must be int (finished (complete or pruned) trials the study should hold [20])"  # fmt: skip
    code, _, err = cli("tune", "plugin=toy2d", "sampler=bayes", f"out={tmp_path}")
    assert (
        code == 2
        and "sampler=bayes" in err
        and "valid: tpe, random, grid, cmaes, evolution, reinforce" in err
    )
    code, _, err = cli("tune", "plugin=toy2d", "objective=fidelity", f"out={tmp_path}")
    assert code == 2 and "objective=fidelity: direction unknown" in err and "Traceback" not in err
    code, _, err = cli("tune", "plugin=toy2d", "repeats=0", f"out={tmp_path}")
    assert code == 2 and err.strip() == "ganhub: error: repeats=0: must be a positive integer (runs per trial)"  # fmt: skip
    code, _, err = cli("tune", "plugin=toy2d", "sampler_seed=-1", f"out={tmp_path}")
    assert code == 2 and err.strip() == "ganhub: error: sampler_seed=-1: must be between 0 and 4294967295"  # fmt: skip
    code, _, err = cli("tune", "plugin=toy2d", "timeout=-5", f"out={tmp_path}")
    assert code == 2 and err.strip() == "ganhub: error: timeout=-5: must be a positive number of seconds"  # fmt: skip


def test_plugin_import_stays_light() -> None:
    code = (
        "import sys; from ganhub.cli import build_cli; build_cli(); print('optuna' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- architecture spaces: every declared choice builds and runs ------------------------------


def _arch_cases() -> list[tuple[str, str, Any]]:
    cases = []
    for entry in get_hub().domains:
        for key, spec in getattr(entry.obj, "arch_space", {}).items():
            values = spec.get("choices") or [spec["low"], spec["high"]]
            cases += [(entry.name, key, v) for v in values]
    return cases


@pytest.mark.parametrize(("plugin", "key", "value"), _arch_cases())
def test_every_arch_choice_builds_and_runs(plugin: str, key: str, value: Any) -> None:
    extra = {"dcgan": ["preset=tiny", "model.extra_blocks=1"]}.get(plugin, [])
    config = resolve([f"plugin={plugin}", *extra, f"{key}={json.dumps(value)}"])
    domain = get_hub().domains.get(plugin)
    system = domain.build(config, BuildHints())
    fake = system.sample(4, seed=0)
    logits = system.D(fake)
    assert torch.isfinite(logits).all() and logits.shape[0] == 4


def test_defaults_build_the_same_networks_as_before() -> None:
    from ganhub_toy2d.networks import activation, mlp
    from torch import nn

    config = resolve(["plugin=toy2d"])
    G = get_hub().domains.get("toy2d").build(config, BuildHints()).G
    assert [type(m) for m in G] == [nn.Linear, nn.ReLU] * 3 + [nn.Linear]
    assert type(mlp(2, 8, 2, 1, activation("leaky_relu"), "layer", True)[3]).__name__ == "Residual"


# -- studies -------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("pruner", ["median", "hyperband"])
def test_pruning_stops_unpromising_trials(tmp_path: Path, cli: Any, pruner: str) -> None:
    args = _tune_args(tmp_path, "prune", "trials=8", "sampler=random", f"pruner={pruner}")
    code, out, err = cli(*args)
    assert code == 0, err
    study = _load(f"sqlite:///{tmp_path / 'studies/prune/study.db'}", "prune")
    pruned = [t for t in study.trials if t.state.name == "PRUNED"]
    assert pruned, out
    for t in pruned:
        steps = [json.loads(line).get("step") for line in
                 (Path(t.user_attrs["run_dir"]) / "metrics.jsonl").read_text().splitlines()]  # fmt: skip
        assert max(s for s in steps if s is not None) < 200  # the run really stopped early
        assert f"trial {t.number}: pruned at step" in out


@pytest.mark.slow
def test_best_yaml_reproduces_and_pareto_front(tmp_path: Path, cli: Any, workdir: Path) -> None:
    args = _tune_args(tmp_path, "multi", "trials=3")
    both = "objective=[reverse_kl,step_time]"  # an option is given once
    code, out, err = cli(*[both if a == "objective=reverse_kl" else a for a in args])
    assert code == 0, err
    facts = json.loads((tmp_path / "studies/multi/summary.json").read_text())
    assert facts["pareto"] and facts["complete"] == 3
    for name in ("best.yaml", "trials.csv", "summary.md", "pareto_front.html", "history.png"):
        assert (tmp_path / "studies/multi" / name).is_file(), name
    code, out, err = cli("run", "--config", facts["best_yaml"])
    assert code == 0, err
    assert f"reverse_kl={facts['best_values']['reverse_kl']:.4g}" in out


# -- PostgreSQL: two workers, one study -------------------------------------------------------


def _pg_bin() -> Path | None:
    import shutil

    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return candidates[-1].parent if candidates else None


@pytest.fixture
def postgres() -> Any:
    """A throwaway PostgreSQL cluster (as user postgres/nobody when run as root); its URL."""
    import shutil
    import socket
    import tempfile

    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries (initdb) on this machine; .ci/run installs them")
    as_user: list[str] = []
    user = os.environ.get("USER", "")
    if os.geteuid() == 0:  # postgres refuses to run as root
        import pwd

        names = [u for u in ("postgres", "nobody") if _has_user(pwd, u)]
        if not names or not shutil.which("runuser"):
            pytest.skip("running as root and no postgres/nobody user + runuser to start PostgreSQL")
        user, as_user = names[0], ["runuser", "-u", names[0], "--"]
    base = Path(tempfile.mkdtemp(prefix="ganhub-pg-"))
    base.chmod(0o777)
    data = base / "data"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = lambda *cmd: subprocess.run([*as_user, *cmd], capture_output=True, text=True)  # noqa: E731
    init = run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", user or "postgres")
    if init.returncode:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"initdb failed: {init.stderr.strip()[-300:]}")
    opts = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    start = run(
        str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(base / "log"), "-w", "start"
    )
    if start.returncode:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"PostgreSQL did not start: {start.stderr.strip()[-300:]}")
    try:
        yield f"postgresql://{user or 'postgres'}@127.0.0.1:{port}/postgres"
    finally:
        run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(base, ignore_errors=True)


def _has_user(pwd: Any, name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


@pytest.mark.slow
def test_two_workers_share_one_postgres_study(tmp_path: Path, postgres: str) -> None:
    args = _tune_args(tmp_path, "shared", "trials=6", "sampler=random", f"storage={postgres}")
    workers = [subprocess.Popen([sys.executable, "-m", "ganhub", *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(2)]  # fmt: skip
    outputs = [w.communicate(timeout=180) for w in workers]
    assert all(w.returncode == 0 for w in workers), [o[1][-2000:] for o in outputs]
    study = _load(postgres, "shared")
    numbers = [t.number for t in study.trials]
    assert numbers == list(range(len(numbers)))  # none lost, none numbered twice
    finished = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) >= 6 and len(finished) == len(study.trials)
    run_dirs = {t.user_attrs["run_dir"] for t in finished}
    assert len(run_dirs) == len(finished)
    on_disk = {str(p) for p in (tmp_path / "studies/shared/trials").iterdir()}
    assert run_dirs == on_disk
    # each worker ran some of the trials and no trial was run by both
    ran = [{int(line.split()[1].rstrip(":")) for line in out.splitlines() if line.startswith("trial ")}
           for out, _ in outputs]  # fmt: skip
    assert ran[0] and ran[1] and not ran[0] & ran[1]
    assert ran[0] | ran[1] == {t.number for t in finished}


def test_keys_set_on_the_command_line_are_fixed_not_searched() -> None:
    from ganhub_tune.study import _without_fixed

    from ganhub.config.overrides import parse_override

    def fixed(*overrides: str) -> dict[str, object]:
        return {".".join(path): value for path, value in map(parse_override, overrides)}

    space = parse_space({"params": {
        "tricks": [[], ["r1"]],
        "trick.r1.gamma": {"type": "float", "low": 0.1, "high": 10, "when": {"tricks": [["r1"]]}},
        "optim.G.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
    }})  # fmt: skip
    kept = _without_fixed(space.params, fixed("tricks=[r1]", "seed=3"))
    assert [(p.key, p.when) for p in kept] == [("trick.r1.gamma", {}), ("optim.G.lr", {})]
    kept = _without_fixed(space.params, fixed("tricks=[]", "optim.G.lr=0.001"))
    assert kept == []


# -- names checked against the registries before the first trial ------------------------------

# TINY without the keys the searches below vary (a key set on the command line is not searched)
FIXED = [item for item in TINY if not item.startswith(("loss=", "tricks="))]


def _spec_file(tmp_path: Path, params: dict[str, Any]) -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump({"params": params}, sort_keys=False))
    return path


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"loss": {"type": "categorical", "choices": ["hinge", "nosuchloss"]}},
         "param 'loss': choice 'nosuchloss' names loss 'nosuchloss', which is not registered; registered: hinge,"),
        ({"loss": ["hinge", "hnige"]}, "names loss 'hnige', which is not registered (did you mean 'hinge'?)"),
        ({"tricks": [[], ["r1", "emma"]]},
         "param 'tricks': choice [r1, emma] names trick 'emma', which is not registered (did you mean 'ema'?); registered: acgan, ada,"),
        ({"eval.metrics": [["mode_coverage_2d"], ["fdi"]]},
         "param 'eval.metrics': choice [fdi] names metric 'fdi', which is not registered (did you mean 'fid'?)"),
        ({"loggers": [["jsonl"], ["neptune"]]}, "names logger 'neptune', which is not registered; registered: jsonl, mlflow,"),
        ({"tricks": [[], "ema"]}, "param 'tricks': choice 'ema' is not valid: must be a list"),
        ({"model.g_norm": ["batch", "bacth"]}, "param 'model.g_norm': choice 'bacth' is not valid: must be one of 'none', 'batch', 'layer'"),
        ({"trainer.grad_accum": [0, 1]}, "param 'trainer.grad_accum': choice 0 is not valid: must be at least 1"),
        ({"tricks": [[], ["r1"]], "trick.r1.gamma": {"type": "float", "low": 0.1, "high": 10, "when": {"tricks": [["r1x"]]}}},
         "param 'trick.r1.gamma': when: {tricks: [r1x]} never holds: [r1x] is not a choice of 'tricks' ([], [r1])"),
    ],
)  # fmt: skip
def test_a_choice_that_names_nothing_registered_stops_the_study_before_a_trial(
    tmp_path: Path, cli: Any, params: dict[str, Any], message: str
) -> None:
    spec = _spec_file(tmp_path, params)
    opts = parse_options(["plugin=toy2d", f"search={spec}", f"out={tmp_path}", *FIXED])
    with pytest.raises(ConfigError) as err:
        prepare(opts)
    assert str(err.value).startswith(f"{spec}: ") and message in str(err.value), str(err.value)
    code, out, err_text = cli("tune", "plugin=toy2d", f"search={spec}", f"out={tmp_path / 's'}",
                              "objective=reverse_kl", *FIXED)  # fmt: skip
    assert code == 2 and message in err_text and len(err_text.strip().splitlines()) == 1
    assert "trial 0" not in out and not (tmp_path / "s").exists()  # no trial ran


@pytest.mark.parametrize("plugin", get_hub().domains.names())
def test_every_built_in_space_names_only_registered_things(tmp_path: Path, plugin: str) -> None:
    spaces = ["hparams"] + (["arch"] if get_hub().domains.get(plugin).arch_space else [])
    for space in spaces:
        opts = parse_options([f"plugin={plugin}", f"space={space}", f"out={tmp_path}",
                              "objective=step_time", "sampler=grid"])  # fmt: skip
        study = prepare(opts)
        assert study.space.params and make_sampler(study, seed=0)  # every space has a grid


def test_a_replaced_parent_keeps_its_place_and_drops_unreachable_children(tmp_path: Path) -> None:
    # toy2d's built-in space conditions trick.lr_schedule.start on its `tricks` choices
    keys = lambda study: [(p.key, p.when) for p in study.space.params]  # noqa: E731
    base = ["plugin=toy2d", f"out={tmp_path}", "objective=modes"]
    mine = _spec_file(tmp_path, {"tricks": [[], ["r1", "ema", "lr_schedule"], ["ema"]]})
    found = keys(prepare(parse_options([*base, f"search={mine}"])))
    assert found.index(("tricks", {})) < found.index(
        ("trick.lr_schedule.start", {"tricks": (["r1", "ema", "lr_schedule"],)})
    )  # still sampled, for the one remaining choice with lr_schedule
    none = _spec_file(tmp_path, {"tricks": [[], ["ema"]]})
    found = keys(prepare(parse_options([*base, f"search={none}"])))
    assert ("tricks", {}) in found and all(k != "trick.lr_schedule.start" for k, _ in found)


def test_objective_names_get_a_did_you_mean_before_the_first_trial(tmp_path: Path) -> None:
    for name, hint in [("mdoes", "(did you mean 'modes'?)"),
                       ("mode_coverage_2d", "('mode_coverage_2d' is a metric's name")]:  # fmt: skip
        with pytest.raises(ConfigError) as err:
            prepare(parse_options(["plugin=toy2d", f"out={tmp_path}", f"objective={name}"]))
        assert f"objective={name}: direction unknown {hint}" in str(err.value)
    assert "prints them: 'modes', 'hq_percent', 'reverse_kl'" in str(err.value)  # tune.md's


# -- a study whose trials all fail ------------------------------------------------------------


def test_a_study_in_which_every_trial_fails_exits_non_zero(tmp_path: Path, cli: Any) -> None:
    # every name is registered, but label_smoothing suits neither loss: each trial is refused
    spec = _spec_file(tmp_path, {"loss": ["hinge", "wasserstein"], "tricks": [["label_smoothing"]]})
    code, out, err = cli("tune", "plugin=toy2d", "trials=3", f"search={spec}",
                         f"out={tmp_path / 's'}", "objective=reverse_kl", *FIXED)  # fmt: skip
    assert code == 2, out + err
    assert err.strip().startswith("ganhub: error: all 3 trials failed; the first, trial 0: trick ")
    assert "does not suit loss" in err and len(err.strip().splitlines()) == 1
    # this command's new study is removed: the corrected command is not refused as another's
    assert err.strip().endswith("is removed: it had no finished trial)")
    assert not (tmp_path / "s").exists()
    assert [line.split(":")[0] for line in out.splitlines() if line.startswith("trial ")] == [
        "trial 0", "trial 1", "trial 2"
    ]  # it stops after `trials` failures instead of trying for ever  # fmt: skip


def test_a_study_with_some_failed_trials_still_reports(tmp_path: Path, cli: Any) -> None:
    spec = _spec_file(
        tmp_path, {"loss": ["hinge", "nonsaturating"], "tricks": [["label_smoothing"]]}
    )
    fixed = ["optim.G.lr=0.001", "optim.D.lr=0.001", "trainer.batch_size=64",
             "model.g_hidden=32", "model.d_hidden=32", "optim.G.betas=[0.5,0.999]"]  # fmt: skip
    code, out, err = cli("tune", "plugin=toy2d", "trials=2", "sampler=grid", f"search={spec}",
                         f"out={tmp_path / 's'}", "objective=reverse_kl", *FIXED, *fixed)  # fmt: skip
    assert code == 0, err
    assert "failed: trick 'label_smoothing' does not suit loss 'hinge'" in out
    facts = json.loads((tmp_path / "s/toy2d-hparams/summary.json").read_text())
    assert facts["complete"] == 1 and facts["failed"] == 1
