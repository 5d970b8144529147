"""Latent directions measured against known factors: SeFa, GANSpace and boundaries on shapes.

Real datasets have no ground-truth factors, so nobody can say whether a found direction is
"the x position". On `data=shapes` every factor (shape, scale, rotation, x, y) is known and
has an estimator (`ganhub.data.shapes.estimate_factors`), so this script trains generators on
shapes, finds directions with each method of `ganhub interpret directions`, walks each
direction ±2σ from 64 sampled codes and reports, per factor, the direction that moves it most,
that effect (1 = as different as two random training images) and its exclusivity (the
factor's share of everything that direction moves; 1 = it moves nothing else), mean ± s.d.
over seeds. Random unit directions, scored the same way, give the chance level of each
column. A planted check comes first: SeFa on a linear generator with known weights must
recover the top right-singular vectors exactly.

    python benchmarks/directions.py                         # dcgan, 3 seeds, all methods
    python benchmarks/directions.py --plugins dcgan stylegan --seeds 0 1 2
    python benchmarks/directions.py --steps 300 --seeds 0   # a smoke run
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from entry import Parser, run_main
from ganhub_interpret.directions import sefa
from ganhub_interpret.directions_page import find_directions, scoring_codes
from ganhub_interpret.scoring import known_factors, score_directions
from tables import mean_sd

import ganhub

METHODS = ("sefa", "ganspace", "boundary", "random")  # random: the chance level of the scores
STEPS = {"dcgan": 2500, "stylegan": 1500}  # the dcgan default; stylegan sized for a CPU


def planted_sefa(dim: int = 16, out: int = 64, k: int = 4) -> float:
    """The largest 1 - |cos| between SeFa's directions and the known top right-singular
    vectors of a planted linear layer A = U S V^T (0 means recovered exactly)."""
    gen = torch.Generator().manual_seed(0)
    U, _ = torch.linalg.qr(torch.randn(out, dim, generator=gen, dtype=torch.float64))
    V, _ = torch.linalg.qr(torch.randn(dim, dim, generator=gen, dtype=torch.float64))
    S = torch.linspace(4.0, 0.5, dim, dtype=torch.float64)
    A = U @ torch.diag(S) @ V.T
    directions, values = sefa(A, k, normalize_rows=False)
    cos = (directions.double() @ V[:, :k]).diagonal().abs()
    assert torch.allclose(values.double()[:k], S[:k] ** 2, rtol=1e-6)
    return float((1 - cos).max())


def train(plugin: str, seed: int, steps: int, out: Path) -> Path:
    """Train one generator on shapes; its run directory."""
    summary = ganhub.train([
        f"plugin={plugin}", "data=shapes", f"seed={seed}", f"trainer.steps={steps}",
        "trainer.progress=false", "loggers=[jsonl]", "eval.metrics=[]", f"out_dir={out}",
        f"name={plugin}-{seed}",
    ])  # fmt: skip
    return Path(summary["run_dir"])


def picture(run_dir: Path, path: Path) -> None:
    """Real shapes (top four rows) above the trained generator's samples (bottom four)."""
    from ganhub.data.images import save_image_grid

    system = ganhub.load(run_dir).system
    real = system.real_samples(32, seed=0)
    fake = system.sample(32, seed=0).cpu()
    save_image_grid(torch.cat([real, fake]), path, nrow=8)
    print(f"picture: {path} (top: real shapes, bottom: samples)", file=sys.stderr)


def measure(run_dir: Path, methods: tuple[str, ...], k: int, n: int) -> dict[str, Any]:
    """{method: ScoreTable} for one trained run."""
    trained = ganhub.load(run_dir)
    system = trained.system
    system.eval()
    space = system.latent_space()
    assert space is not None
    known = known_factors(system, n=2000, seed=0)
    assert known is not None
    codes = space.sample(n, 0).detach()
    tables = {}
    for method in methods:
        if method == "random":  # as many unit directions drawn at random: what chance scores
            gen = torch.Generator().manual_seed(0)
            directions = torch.randn(k, space.dim, generator=gen).to(codes)
            directions = directions / directions.norm(dim=1, keepdim=True)
            names = [f"random {i}" for i in range(k)]
        else:
            directions, names, _, _ = find_directions(space, method, k, codes, n, 0, known)
        walked = scoring_codes(space, method, codes, 0)  # boundaries: a held-out draw
        tables[method] = score_directions(
            space, directions, walked, estimate=known.estimate, info=known.info,
            reference=known.reference, names=names,
        )  # fmt: skip
    return tables


def report(plugin: str, results: list[dict[str, Any]], methods: tuple[str, ...]) -> None:
    """One table per plugin: per method and factor, the best direction's effect and exclusivity."""
    factors = results[0][methods[0]].factors
    print(f"\n{plugin} on shapes, {len(results)} seed(s): per factor, the direction that moves "
          "it most")  # fmt: skip
    print("| method | factor | effect | exclusivity | best direction (seed 0) |")
    print("|---|---|---|---|---|")
    for method in methods:
        for factor in factors:
            rows = [next(f for f in r[method].per_factor if f.factor == factor) for r in results]
            best = results[0][method].directions[rows[0].direction].name
            print(f"| {method} | {factor} | {mean_sd([f.effect for f in rows])} | "
                  f"{mean_sd([f.exclusivity for f in rows])} | {best} |")  # fmt: skip
    print("\nmean exclusivity of the best direction over factors:")
    for method in methods:
        per_seed = [statistics.mean(f.exclusivity for f in r[method].per_factor) for r in results]
        print(f"  {method:9s} {mean_sd(per_seed)}")


def main() -> None:
    """Parse arguments, train, measure, print."""
    parser = Parser(description=__doc__.split("\n")[0])
    parser.add_argument("--plugins", nargs="+", default=["dcgan"], choices=["dcgan", "stylegan"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: "
                        + ", ".join(f"{p} {s}" for p, s in STEPS.items()) + ")")  # fmt: skip
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--directions", type=int, default=8, help="SeFa/GANSpace directions")
    parser.add_argument("--samples", type=int, default=2000, help="codes sampled per run")
    parser.add_argument("--picture", type=Path, default=None,
                        help="a PNG of real shapes above the first run's samples")  # fmt: skip
    args = parser.parse_args()
    methods = tuple(args.methods)

    # the weights after training differ with the thread count (1 and 2 threads by ~0.02 after
    # 60 steps): the table is reproducible at the same count
    print(f"torch threads: {torch.get_num_threads()} (OMP_NUM_THREADS=1 for the docs' table)")
    print(f"planted SeFa: max 1 - |cos| to the true singular vectors = {planted_sefa():.1e}")
    with tempfile.TemporaryDirectory() as tmp:
        for plugin in args.plugins:
            results = []
            for seed in args.seeds:
                start = time.perf_counter()
                run_dir = train(plugin, seed, args.steps or STEPS[plugin], Path(tmp))
                trained_s = time.perf_counter() - start
                results.append(measure(run_dir, methods, args.directions, args.samples))
                if args.picture is not None and not results[1:]:
                    picture(run_dir, args.picture)
                print(f"{plugin} seed {seed}: trained in {trained_s:.0f} s, measured in "
                      f"{time.perf_counter() - start - trained_s:.0f} s", flush=True)  # fmt: skip
            report(plugin, results, methods)


if __name__ == "__main__":
    run_main(main)
