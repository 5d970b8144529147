"""textgan's plain loop: task=generate (a GPT-2 G from a config, a CNN D over token embeddings)
trained by hand in PyTorch, the way RelGAN's reference code trains its text GAN.

It follows weilinie/RelGAN (`oracle/oracle_gan/oracle_train.py`, `models/rmc_vanilla.py`):
MLE pre-training of G, then adversarial steps where D reads real one-hot rows and G's relaxed
samples softmax(beta * (logits + g)), whose argmax is the Gumbel-max token G fed itself, with
beta annealed exponentially, beta_max ** p, and RelGAN's relativistic standard loss (RSGAN;
`loss=nonsaturating` gives the standard one). SeqGAN's REINFORCE with Monte-Carlo rollouts is the
other estimator (`adversarial.estimator=rollout`). What it takes from the run, as RelGAN's
flags would set them: ganhub's GPT-2 G and D (deep copies, the same weights), the oracle
corpus' batches, the config's optimizers (G's adversarial rate, RelGAN's `gadv_lr`, included),
loss weights, schedule and precision, and the order
of ganhub's steps (D, then G, on one batch; RelGAN runs G first), so both sides compute the
same updates. As ganhub's step, D reads no position after a sentence's first <eos> (zero rows
for reals and fakes; no reward there), D trains alone for `adversarial.d_pretrain_steps` after
MLE (SeqGAN's pretraining), and beta anneals over `adversarial.anneal_steps`. The relaxed sample is computed in one KV-cached pass with gradients, as RelGAN's
recurrent pass and ganhub compute it: each position's token argmax(logits + g) is the next
input, and its soft token is softmax(beta * (logits + g)) of the same logits (one set of
dropout masks).
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import torch
import torch.nn.functional as F
from ganhub_textgan.vocab import BOS, EOS, PAD
from plain_loops._common import update
from torch import Tensor, nn

from ganhub.engine.run import Run

# The adversarial stretch only: the default run's first 600 steps are MLE pre-training, which
# would be all the benchmark's steps. The MLE step is measured with the command-line key
# `adversarial.pretrain_steps=600` (it comes after KEYS).
KEYS: list[str] = ["adversarial.pretrain_steps=0"]
BATCH = 64


def bce(logits: Tensor, target: float) -> Tensor:
    """Mean sigmoid cross-entropy of logits against a constant label (RelGAN's 'standard')."""
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def in_sentence(ids: Tensor) -> Tensor:
    """(B, L) True up to and including each row's first <eos>, and not at <pad>: what D judges
    and what earns rewards (a real sentence has <pad> after it, G writes anything there)."""
    eos = (ids == EOS).long()
    return (eos.cumsum(1) - eos == 0) & (ids != PAD)


def rsgan(ahead: Tensor, behind: Tensor) -> Tensor:
    """RelGAN's 'RSGAN' loss: mean -log sigmoid(ahead - behind), pair by pair."""
    return F.softplus(behind - ahead).mean()


@contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """No weight gradients for `module` inside (RelGAN differentiates G's loss by G's vars)."""
    params = list(module.parameters())
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


class PlainTextGAN:
    """The hand-written task=generate step: MLE steps, then a D and a G step per batch."""

    def __init__(
        self, G: nn.Module, D: nn.Module, *, vocab: int, length: int, pretrain_steps: int,
        total_steps: int, estimator: str = "gumbel", beta_max: float = 100.0,
        anneal: str = "exp", anneal_steps: int | None = 3000, d_pretrain_steps: int = 0,
        rollouts: int = 4, mle_weight: float = 0.0, adv_weight: float = 1.0,
        loss: str = "relativistic",
        g_opt: dict[str, Any], d_opt: dict[str, Any], g_adversarial_lr: float | None = None,
        autocast_dtype: torch.dtype | None = None, writable: Tensor | None = None,
    ) -> None:  # fmt: skip
        self.G, self.D = G, D
        # the ids G may write (a bool mask over the vocabulary, None: all): on the oracle task
        # the oracle's words, as the literature's G has no special tokens
        self.writable = writable
        self.vocab, self.length = vocab, length
        self.pretrain_steps, self.total_steps = pretrain_steps, total_steps
        self.estimator, self.beta_max, self.anneal = estimator, beta_max, anneal
        # G's first step comes after MLE and D's pretraining; beta reaches beta_max
        # anneal_steps later (RelGAN's horizon), or at the run's last step when None
        self.g_start = pretrain_steps + d_pretrain_steps
        self.beta_end = total_steps if anneal_steps is None else self.g_start + anneal_steps
        self.rollouts, self.mle_weight, self.loss = rollouts, mle_weight, loss
        self.adv_weight = adv_weight
        self.device = next(G.parameters()).device
        # one Adam for MLE and adversarial G steps, whose rate drops to g_adversarial_lr at the
        # first adversarial step; RelGAN builds a second Adam at that rate (fresh moments, which
        # measured no better: docs/textgan.md)
        self.optG = torch.optim.Adam(G.parameters(), **g_opt)
        self.g_adversarial_lr = g_adversarial_lr
        self.optD = torch.optim.Adam(D.parameters(), **d_opt)
        self.dtype = autocast_dtype
        self.scaler = (
            torch.amp.GradScaler(self.device.type) if autocast_dtype == torch.float16 else None
        )
        # transformers 5 calls the KV cache argument `cache`, earlier releases `past_key_values`
        params = inspect.signature(G.forward).parameters
        self.cache_key = "cache" if "cache" in params else "past_key_values"
        self.step_count = 0

    def autocast(self) -> AbstractContextManager[Any]:
        """Autocast to the run's precision (nothing at fp32)."""
        if self.dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    # -- G's distribution -------------------------------------------------------------------

    def logits(self, x: Tensor) -> Tensor:
        """Teacher-forced next-token logits (B, L, V): G reads <bos> x[:-1]."""
        inp = torch.cat([torch.full_like(x[:, :1], BOS), x[:, :-1]], 1)
        return self.masked(self.G(input_ids=inp).logits[..., : self.vocab])

    def masked(self, logits: Tensor) -> Tensor:
        """Logits with -inf where G may not write."""
        if self.writable is None:
            return logits
        return logits.masked_fill(~self.writable, float("-inf"))

    def mle(self, x: Tensor) -> Tensor:
        """Token cross-entropy of G on x (padding ignored)."""
        return F.cross_entropy(self.logits(x).flatten(0, 1).float(), x.flatten(), ignore_index=PAD)

    def gumbel(self, shape: tuple[int, ...]) -> Tensor:
        """Standard Gumbel noise, u kept off 0 and 1 so both logs stay finite."""
        u = torch.rand(shape, device=self.device).clamp(1e-10, 1.0 - 1e-7)
        return -torch.log(-torch.log(u))

    @torch.no_grad()
    def sample(
        self, n: int, noise: Tensor | None = None, forced: Tensor | None = None,
        keep: Tensor | None = None,
    ) -> Tensor:  # fmt: skip
        """(n, L) Gumbel-max tokens, one KV-cached forward per position; where `keep` is True
        the token is `forced`'s (a rollout continues a prefix); `noise` (n, L, V) or fresh."""
        tok = torch.full((n, 1), BOS, dtype=torch.long, device=self.device)
        cache: Any = None
        out = []
        for i in range(self.length):
            o = self.G(input_ids=tok, **{self.cache_key: cache}, use_cache=True)
            cache = o[self.cache_key]
            g = noise[:, i] if noise is not None else self.gumbel((n, self.vocab))
            tok = (self.masked(o.logits[:, -1, : self.vocab].float()) + g).argmax(-1, keepdim=True)
            if forced is not None and keep is not None:
                tok = torch.where(keep[:, i : i + 1], forced[:, i : i + 1], tok)
            out.append(tok)
        return torch.cat(out, 1)

    def beta(self) -> float:
        """RelGAN's inverse temperature at this step of the adversarial stretch."""
        start, end = self.g_start, self.beta_end
        p = min(max((self.step_count - start) / max(end - start, 1), 0.0), 1.0)
        if self.anneal == "exp":
            return self.beta_max**p
        if self.anneal == "linear":
            return 1 + (self.beta_max - 1) * p
        return self.beta_max

    def relaxed(self, n: int, beta: float) -> Tensor:
        """RelGAN's soft one-hot samples (n, L, V), differentiable wherever G's weights are."""
        noise = self.gumbel((n, self.length, self.vocab))
        tok = torch.full((n, 1), BOS, dtype=torch.long, device=self.device)
        cache: Any = None
        soft = []
        for i in range(self.length):
            o = self.G(input_ids=tok, **{self.cache_key: cache}, use_cache=True)
            cache = o[self.cache_key]
            y = self.masked(o.logits[:, -1, : self.vocab].float()) + noise[:, i]
            tok = y.detach().argmax(-1, keepdim=True)
            soft.append(F.softmax(beta * y, -1))
        soft_tokens = torch.stack(soft, 1)
        return soft_tokens * in_sentence(soft_tokens.detach().argmax(-1)).unsqueeze(-1)

    def one_hot(self, ids: Tensor) -> Tensor:
        """Token ids as D reads them: one-hot rows, zero after the sentence's end."""
        return F.one_hot(ids, self.vocab).float() * in_sentence(ids).unsqueeze(-1)

    # -- steps ------------------------------------------------------------------------------

    def d_step(self, x: Tensor) -> Tensor:
        """D on real one-hot rows against fresh fakes (soft for gumbel, hard for rollout)."""
        with self.autocast():
            with torch.no_grad():
                if self.estimator == "gumbel":
                    fake = self.relaxed(len(x), self.beta())
                else:
                    fake = self.one_hot(self.sample(len(x)))
            real = self.one_hot(x)
            d_real, d_fake = self.D(real), self.D(fake)
            if self.loss == "relativistic":
                loss = rsgan(d_real, d_fake)
            else:
                loss = bce(d_real, 1.0) + bce(d_fake, 0.0)
        update(loss, self.optD, self.scaler)
        return loss.detach()

    def g_step(self, x: Tensor) -> Tensor:
        """adv_weight x G's adversarial loss (RSGAN or non-saturating BCE, or REINFORCE),
        plus mle_weight x MLE (the default's anchor; RelGAN and SeqGAN train without it)."""
        with frozen(self.D), self.autocast():
            if self.estimator == "gumbel":
                d_fake = self.D(self.relaxed(len(x), self.beta()))
                if self.loss == "relativistic":
                    with torch.no_grad():
                        d_real = self.D(self.one_hot(x))
                    loss = rsgan(d_fake, d_real)
                else:
                    loss = bce(d_fake, 1.0)
            else:
                loss = self.reinforce(len(x))
            if self.adv_weight != 1:
                loss = self.adv_weight * loss
            if self.mle_weight > 0:
                loss = loss + self.mle_weight * self.mle(x)
        update(loss, self.optG, self.scaler)
        return loss.detach()

    def reinforce(self, n: int) -> Tensor:
        """SeqGAN's policy gradient: per-token rewards from D on `rollouts` completions of each
        prefix (all sampled in one batched pass), minus their per-position batch mean."""
        seqs = self.sample(n)
        with torch.no_grad():
            L, R = self.length, self.rollouts
            prefix = torch.arange(1, L, device=self.device)  # prefix lengths 1 .. L-1
            forced = seqs[:, None, None, :].expand(n, L - 1, R, L).reshape(-1, L)
            keep = torch.arange(L, device=self.device)[None, :] < prefix[:, None]  # (L-1, L)
            keep = keep[None, :, None, :].expand(n, L - 1, R, L).reshape(-1, L)
            completions = self.sample(len(forced), forced=forced, keep=keep)
            partial = torch.sigmoid(self.D(self.one_hot(completions)).float())
            whole = torch.sigmoid(self.D(self.one_hot(seqs)).float()).view(n, 1)
            kept = in_sentence(seqs).float()  # no reward after the sentence's end
            rewards = torch.cat([partial.view(n, L - 1, R).mean(2), whole], 1) * kept
        baseline = rewards.sum(0, keepdim=True) / kept.sum(0, keepdim=True).clamp_min(1)
        advantage = (rewards - baseline) * kept
        logp = self.logits(seqs).float().log_softmax(-1)
        logp = logp.gather(-1, seqs.unsqueeze(-1)).squeeze(-1)
        return -(logp * advantage).sum(1).mean()

    def step(self, x: Tensor) -> tuple[Tensor, ...]:
        """One training step on token ids x (B, L): an MLE step while pre-training, else a D
        step and a G step on the same batch; returns the losses, still on the device."""
        if self.step_count < self.pretrain_steps:
            with self.autocast():
                loss = self.mle(x)
            update(loss, self.optG, self.scaler)
            losses: tuple[Tensor, ...] = (loss.detach(),)
        elif self.step_count < self.g_start:  # D's pretraining against G's MLE samples
            losses = (self.d_step(x),)
        else:
            if self.g_adversarial_lr is not None:  # once, at the first adversarial step
                for group in self.optG.param_groups:
                    group["lr"] = self.g_adversarial_lr
                self.g_adversarial_lr = None
            losses = (self.d_step(x), self.g_step(x))
        if self.scaler is not None:
            self.scaler.update()
        self.step_count += 1
        return losses


def adam_settings(opt: Any, device: torch.device) -> dict[str, Any]:
    """Adam's keyword arguments from a config's optimizer (fused on CUDA and CPU, foreach else)."""
    if opt.name != "adam":
        raise ValueError(f"the plain textgan loop builds Adam; the config asks for {opt.name}")
    kernels = {"fused": True} if device.type in ("cuda", "cpu") else {"foreach": True}
    return {"lr": opt.lr, "betas": tuple(opt.betas), "eps": opt.eps,
            "weight_decay": opt.weight_decay, **kernels}  # fmt: skip


def plain_loop(run: Run) -> PlainTextGAN:
    """The hand-written trainer on copies of the run's G and D, with its settings."""
    cfg = run.config
    if cfg.task != "generate" or cfg.tricks or cfg.loss not in ("relativistic", "nonsaturating"):
        raise ValueError(
            "the plain textgan loop is task=generate with the relativistic or non-saturating "
            "loss and no tricks"
        )
    if cfg.trainer.grad_accum != 1:
        raise ValueError("the plain textgan loop takes whole batches (trainer.grad_accum=1)")
    adv, s = cfg.adversarial, run.system
    known = s.known  # the ids its tokenizer (or the oracle) has: a count or a mask
    ids = torch.arange(s.vocab)
    writable = ids < known if isinstance(known, int) else known
    # G never writes <pad>: what follows a sentence's <eos>, never a token of it
    writable = (ids != PAD) if writable is None else writable.cpu() & (ids != PAD)
    dtype = {"32": None, "bf16": torch.bfloat16, "16": torch.float16}[str(cfg.precision)]
    return PlainTextGAN(
        copy.deepcopy(s.G), copy.deepcopy(s.D), vocab=s.vocab, length=s.length,
        pretrain_steps=adv.pretrain_steps, total_steps=cfg.trainer.steps,
        estimator=adv.estimator, beta_max=adv.temperature_max, anneal=adv.anneal,
        anneal_steps=adv.anneal_steps, d_pretrain_steps=adv.d_pretrain_steps,
        rollouts=adv.rollouts, mle_weight=cfg.objective.mle_weight,
        adv_weight=cfg.objective.adv_weight, loss=cfg.loss,
        g_opt=adam_settings(cfg.optim.G, run.device), d_opt=adam_settings(cfg.optim.D, run.device),
        g_adversarial_lr=adv.g_lr, autocast_dtype=dtype,
        writable=writable.to(run.device),
    )  # fmt: skip
