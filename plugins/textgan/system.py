"""task=generate: MLE pretraining of a GPT-2 generator, then Gumbel-softmax or rollout-PG phases.

`TextSystemBase` holds what both tasks share (tokenizer, text artifacts). What a system offers
its metrics and commands it declares in `capabilities()`; the named interfaces ("text",
"likelihood", "oracle", "style_transfer") are defined in `ganhub_textgan.metrics`.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from ganhub_textgan.base import UNKNOWN_WARNING, TextSystemBase
from ganhub_textgan.config import TextGANConfig
from ganhub_textgan.controls import files_warning
from ganhub_textgan.corpus import TokenShard, held_out, load_token_shard, read_lines
from ganhub_textgan.data import OracleLSTM, oracle_words
from ganhub_textgan.networks import (
    Known,
    build_d,
    build_lm,
    end_sentences,
    gumbel_tokens,
    in_sentence,
    lm_logits,
    policy_sample,
    rollout_rewards,
    sample_lm,
)
from ganhub_textgan.phases import beta_at, mle_loss, phase_plan, refuse_moved_phases
from ganhub_textgan.temperature import check_temperature
from ganhub_textgan.vocab import (
    PAD,
    encode,
)
from torch import Tensor

from ganhub.anneal import Anchor, resumed_anchor, saved_anchor
from ganhub.capabilities import Capabilities
from ganhub.data import TensorBatches
from ganhub.data.shards import is_shard
from ganhub.engine.context import TrainContext
from ganhub.engine.optimizers import set_learning_rate
from ganhub.engine.system import BuildHints, Phase, PhaseOutput
from ganhub.errors import ConfigError


class TextGenSystem(TextSystemBase):
    """G: a causal LM; D: a sequence classifier; MLE phase, then the adversarial phases."""

    # G's adversarial loss alone: loss/G adds the MLE term, and REINFORCE's is centred on 0
    g_loss_stats: ClassVar[dict[str, str]] = {"": "G_adv"}

    def __init__(self, config: TextGANConfig, hints: BuildHints | None = None) -> None:
        super().__init__(config, hints)
        d = config.data
        self.length = d.length
        self.oracle = OracleLSTM(d.vocab_size, d.oracle_seed) if d.path is None else None
        self.G = build_lm(config.model, self.vocab, d.length)
        self.D = build_d(config.model, self.vocab, d.length)
        self._oracle_words: Tensor | None = None  # `known` on the oracle task, on G's device

    # -- corpus ------------------------------------------------------------------------

    @cached_property
    def oracle_ids(self) -> tuple[Tensor, Tensor]:
        """(train, test) oracle samples in the oracle's own ids."""
        assert self.oracle is not None
        d = self.cfg.data
        ids = self.oracle.sample(d.n_train + d.n_test, d.length, seed=d.oracle_seed + 1)
        return ids[: d.n_train], ids[d.n_train :]

    @cached_property
    def shard(self) -> TokenShard | None:
        """The token shard data.path names (ids and their tokenizer), else None."""
        path = self.cfg.data.path
        return load_token_shard(path) if path is not None and is_shard(path) else None

    @cached_property
    def texts(self) -> tuple[list[str], list[str]]:
        """(train, test) sentences (a token shard's: its rows decoded)."""
        if self.oracle is not None:
            train, test = self.oracle_ids
            return oracle_words(train), oracle_words(test)
        if self.shard is not None:  # held-out lines as written (the manifest keeps them)
            train_ids, test_ids = self.token_ids
            written = self.shard.facts.get("held_out_texts")
            if isinstance(written, list) and len(written) == len(test_ids):
                return self.decode(train_ids), written
            return self.decode(train_ids), self.decode(test_ids)
        assert self.cfg.data.path is not None
        lines = read_lines(self.cfg.data.path, "data.path")
        n_test = held_out(len(lines), self.cfg.data.n_test)
        return lines[n_test:], lines[:n_test]

    def make_tokenizer(self) -> Any:
        """A token shard's own tokenizer, else one trained on the training sentences."""
        if self.shard is not None:
            return self.shard.tokenizer
        return super().make_tokenizer()

    def encoded_sets(self) -> list[tuple[Tensor, list[str]]]:
        """The training and held-out ids of a text file, when encoded (a shard's ids are
        stored; the oracle's words are fixed)."""
        if "token_ids" not in self.__dict__ or self.oracle is not None:
            return []
        if self.shard is not None:
            path = self.cfg.data.path
            raise ConfigError(
                f"data.path={path}: this token shard holds the ids of another tokenizer than "
                "the one this run was trained with (its checkpoint carries it); resume with "
                "the shard or text file the run was trained on, or start a fresh run"
            )
        return list(zip(self.token_ids, self.texts, strict=True))

    def tokenizer_texts(self) -> list[str]:
        """Training sentences."""
        return self.texts[0]

    def tokenizer_spec(self) -> tuple[Literal["word", "bpe"], int]:
        """Oracle: word-level over exactly its tokens; files: the configured model and size."""
        if self.oracle is not None:
            return "word", self.vocab
        return self.cfg.data.tokenizer, self.vocab

    @cached_property
    def token_ids(self) -> tuple[Tensor, Tensor]:
        """(train, test) token ids (N, length) of the corpus (a token shard's as stored, split
        as its text file would be)."""
        if self.shard is not None:
            ids = self.shard.ids
            n_test = held_out(len(ids), self.cfg.data.n_test)
            return ids[n_test:], ids[:n_test]
        eos = self.oracle is None  # oracle sentences are exactly `length` tokens, no <eos>
        train, test = self.texts
        return (
            encode(self.tokenizer, train, self.length, eos),
            encode(self.tokenizer, test, self.length, eos),
        )

    def token_rows(self) -> Tensor:
        """The training token ids."""
        return self.token_ids[0]

    def before_training(self) -> list[str]:
        """A note when a resume reads another data.path (`moved_data_note`), and a warning
        when a resumed or initialised run's tokenizer (its checkpoint's, made from the text it
        was first trained on) maps much of this data.path to <unk>, and one when the sentences
        of a text file hold control characters (`controls.files_warning`). The config's own
        warnings are the domain's (`TextGANDomain.warnings`)."""
        path = self.cfg.data.path
        found = []  # the oracle's words are fixed; a shard holds its own tokenizer's ids
        if self.oracle is None and self.shard is None and path is not None:
            found = files_warning([path], self.file_sentences())
        if self.moved_from is not None:
            return [*self.moved_data_note(), *found]
        if not self.store.from_checkpoint or self.oracle is not None or self.shard is not None:
            return found
        share = self.unknown_share()
        if share <= UNKNOWN_WARNING:
            return found
        return [
            *found,
            f"textgan: {share:.0%} of the tokens of data.path are <unk>: this run keeps the "
            "tokenizer of the text its weights were first trained on (resume, init_from), "
            "whose words this text mostly lacks; a byte-level tokenizer has no <unk> "
            "(data.tokenizer=bpe in the run you start from)",
        ]

    @cached_property
    def to_oracle(self) -> Tensor:
        """Model id -> oracle id lookup (-1 for specials)."""
        table = torch.full((self.vocab,), -1, dtype=torch.long)
        for word, i in self.tokenizer.get_vocab().items():
            if word.startswith("t") and word[1:].isdigit():
                table[i] = int(word[1:])
        return table

    @property
    def known(self) -> Known:
        """On the oracle task, a mask of the oracle's words: as SeqGAN's G, G never writes a
        special token, which the oracle's language has not (kept on G's device, so sampling
        copies nothing per token); else the tokenizer's id count."""
        if self.oracle is None:
            return super().known
        device = next(self.G.parameters()).device
        if self._oracle_words is None or self._oracle_words.device != device:
            self._oracle_words = (self.to_oracle >= 0).to(device)
        return self._oracle_words

    def data(self) -> TensorBatches:
        """Training token ids."""
        return TensorBatches(self.token_ids[0])

    def capabilities(self) -> Capabilities:
        """Token ids from noise; decoded text, G's likelihood and, on the oracle corpus, the
        oracle's (the interfaces of `ganhub_textgan.metrics`)."""
        provides = {"text", "likelihood"} | ({"oracle"} if self.oracle is not None else set())
        return Capabilities(
            modality="tokens",
            task="generate",
            provides=frozenset(provides),
        )

    # -- the 'text', 'likelihood' and 'oracle' interfaces -------------------------------

    def held_out_texts(self, n: int) -> list[str]:
        """Up to n held-out sentences."""
        return self.texts[1][:n]

    def held_out_ids(self, n: int) -> Tensor:
        """Up to n held-out sentences as token ids (n, length)."""
        return self.token_ids[1][:n]

    def oracle_floor(self, n: int) -> Tensor:
        """The oracle's NLL of n of its own held-out sentences (its entropy rate)."""
        assert self.oracle is not None
        return self.oracle.nll(self.oracle_ids[1][:n].to(self.device))

    # -- sampling ----------------------------------------------------------------------

    def sampling_temperature(self, temperature: float | None = None) -> float:
        """The sampling temperature: `temperature` when given, else the config's
        sample.temperature. The range and one-line refusal are `check_temperature`'s, as for
        the config key, `--temperature` and `generate()` (earlier releases let these methods
        take any T in (0, 100], 1e-45 too, which float32 cannot hold as a normal number)."""
        if temperature is None:
            return float(self.cfg.sample.temperature)  # validated with the config
        return check_temperature(temperature, "temperature")

    def sample(
        self, n: int, *, seed: int | None = None, use_ema: bool = True,
        labels: Tensor | None = None, temperature: float | None = None,
    ) -> Tensor:  # fmt: skip
        """(n, length) token ids sampled from G at `temperature` (None: sample.temperature):
        never <pad> within a sentence (G's <pad> logit is -inf), <pad> after its first <eos>.
        Prefix-stable: the first k of n samples at a seed are the k samples at that seed."""
        self.refuse_labels(labels)
        t = self.sampling_temperature(temperature)
        lm = self.generator(use_ema=use_ema)
        with torch.no_grad():  # one noise stream per 16 samples: prefix-stable in n
            ids = sample_lm(
                lm, n, self.length, self.vocab, seed=seed or 0, temperature=t, known=self.known
            )
        return end_sentences(ids)  # <pad> after the first <eos>, as the corpus has it

    def sample_texts(self, n: int | None, seed: int) -> list[str]:
        """`n` decoded samples (None: 20)."""
        return self.decode(self.sample(n or 20, seed=seed))

    def nll(self, ids: Tensor, batch_size: int = 256, temperature: float | None = None) -> Tensor:
        """Per-sequence NLL (B,) in nats per token under the distribution `sample` draws from:
        G's softmax at `temperature` (None: sample.temperature), as Caccia et al. (2018)
        score a tempered model; float64 on the CPU, finite for any temperature."""
        t = self.sampling_temperature(temperature)
        out = []
        lm = self.generator()
        with torch.no_grad():
            for chunk in ids.to(self.device).split(batch_size):
                logits = lm_logits(lm, chunk, self.vocab, self.known).float()
                tok = _tempered_log_probs(logits, chunk, t)
                mask = (chunk != PAD).cpu()  # padding: G never writes it, log-prob -inf
                tok = tok.masked_fill(~mask, 0.0)  # not tok * mask: -inf * 0 is NaN
                out.append(-tok.sum(1) / mask.sum(1).clamp_min(1))
        return torch.cat(out)

    def oracle_nll(self, ids: Tensor) -> tuple[Tensor, Tensor]:
        """The oracle's per-sequence NLL of model token ids, and which rows hold specials.

        Special tokens (which the oracle cannot emit) are scored as oracle token 0; `text_nll`
        leaves those rows out of nll_oracle's mean."""
        assert self.oracle is not None
        mapped = self.to_oracle.to(ids.device)[ids]
        return self.oracle.nll(mapped.clamp_min(0)), (mapped < 0).any(1)

    # -- phases ------------------------------------------------------------------------

    @property
    def g_start(self) -> int:
        """The first adversarial G step: after MLE and D's pretraining."""
        adv = self.cfg.adversarial
        return adv.pretrain_steps + adv.d_pretrain_steps

    def phases(self) -> list[Phase]:
        """mle for pretrain_steps, then D (alone for d_pretrain_steps) and the adversarial G."""
        adv = self.cfg.adversarial
        g_loss = self._gumbel_g if adv.estimator == "gumbel" else self._rollout_g
        return [
            Phase("mle", "G", self._mle, stop=adv.pretrain_steps),
            # from MLE's end; tricks=[n_critic]: several D steps per step
            Phase("D", "D", self._d, start=adv.pretrain_steps),
            Phase("G", "G", g_loss, start=self.g_start),
        ]

    def one_hot(self, x: Tensor) -> Tensor:
        """Token ids as D sees them: one-hot rows (B, L, V), zero rows after the first <eos>
        and at padding (`in_sentence`), for reals and sampled fakes alike."""
        return F.one_hot(x, self.vocab).float() * in_sentence(x).unsqueeze(-1)

    def soft_fakes(self, n: int, beta: float) -> Tensor:
        """Gumbel soft tokens (n, L, V) with gradients to G, zero rows after the first <eos>
        of the sampled tokens (their argmax), as `one_hot` gives D the real sentences."""
        soft = gumbel_tokens(self.G, n, self.length, self.vocab, beta, self.known)
        return soft * in_sentence(soft.detach().argmax(-1)).unsqueeze(-1)

    # The anneal's plan: None follows trainer.steps as the run started; a run resumed with
    # another length anchors at (resumed step, progress reached) and anneals on from there.
    beta_anchor: Anchor | None = None

    def beta_end(self) -> int:
        """The step at which beta reaches temperature_max: adversarial.anneal_steps after the
        first adversarial G step (RelGAN's schedule), else the run's last step."""
        steps = self.cfg.adversarial.anneal_steps
        return self.cfg.trainer.steps if steps is None else self.g_start + steps

    def follows_run_length(self) -> list[str]:
        """The Gumbel temperature when it anneals to the run's last step (anneal_steps unset)."""
        adv = self.cfg.adversarial
        if adv.estimator != "gumbel" or adv.anneal == "const" or adv.anneal_steps is not None:
            return []
        return ["the Gumbel temperature anneals on from the one it reached to the new end"]

    def beta(self, step: int) -> float:
        """The Gumbel inverse temperature at `step`."""
        adv = self.cfg.adversarial
        end = self.beta_end()
        return beta_at(step, self.g_start, end, adv.temperature_max, adv.anneal, self.beta_anchor)

    def resume_state(self) -> dict[str, Any]:
        """The anneal's plan (the step it ends at, its anchor) and the phase boundaries."""
        plan = phase_plan(self.cfg)
        return {
            "beta_total": self.beta_end(),
            "beta_anchor": self.beta_anchor,
            "phases": plan,
            "data_files": self.data_files(),
            "data_sha256": self.data_digest(),
        }

    def file_sentences(self) -> list[str]:
        """A text file's or token shard's sentences, held-out ones first (none: the oracle)."""
        return [] if self.oracle is not None else [*self.texts[1], *self.texts[0]]

    def load_resume_state(self, state: dict[str, Any], step: int) -> None:
        """A resume that moves a phase boundary the run has passed is refused; one that moves
        the anneal's end anneals on from the progress reached at `step`."""
        refuse_moved_phases(state.get("phases"), self.cfg, step)
        self.note_data_files(state)
        self.reencode_after_resume()
        saved = saved_anchor(state.get("beta_anchor"))
        end = int(state.get("beta_total", self.beta_end()))
        self.beta_anchor = resumed_anchor(step, self.g_start, end, self.beta_end(), saved)

    def _mle(self, x: Tensor, ctx: TrainContext) -> PhaseOutput:
        loss = mle_loss(lm_logits(self.G, x, self.vocab, self.known), x)
        return PhaseOutput(loss, {"mle_nll": loss.detach()})

    def _fake(self, n: int, step: int) -> Tensor:
        if self.cfg.adversarial.estimator == "gumbel":
            return self.soft_fakes(n, self.beta(step))
        return self.one_hot(sample_lm(self.G, n, self.length, self.vocab, known=self.known))

    def _d(self, x: Tensor, ctx: TrainContext) -> PhaseOutput:
        with torch.no_grad():
            fake = self._fake(len(x), ctx.step)
        return ctx.d_loss(self.D, self.one_hot(x), fake)

    def configure_optimizers(self, optimizers: dict[str, torch.optim.Optimizer]) -> None:
        """Keep G's optimizer: the first adversarial G step moves it to adversarial.g_lr."""
        self.__dict__["_g_optimizer"] = optimizers.get("G")  # not a submodule or state
        self.__dict__["_adversarial_lr_set"] = self.cfg.adversarial.g_lr is None

    def _adversarial_lr(self) -> None:
        """Scale G's learning rate from optim.G.lr to adversarial.g_lr, once: each param group
        is marked, so the state a resumed run restores (already scaled) is left alone. The
        scaling keeps an lr_schedule's factor (its `initial_lr` is scaled too)."""
        if self.__dict__.get("_adversarial_lr_set", True):
            return
        self.__dict__["_adversarial_lr_set"] = True
        target, base = self.cfg.adversarial.g_lr, self.cfg.optim.G.lr
        optimizer = self.__dict__.get("_g_optimizer")
        if optimizer is None or target is None:
            return
        for group in optimizer.param_groups:
            if group.get("adversarial_lr"):
                continue
            group["adversarial_lr"] = True
            if "initial_lr" in group:
                group["initial_lr"] = group["initial_lr"] * target / base
            set_learning_rate(group, float(group["lr"]) * target / base)

    def _gumbel_g(self, x: Tensor, ctx: TrainContext) -> PhaseOutput:
        self._adversarial_lr()
        beta = self.beta(ctx.step)
        soft = self.soft_fakes(len(x), beta)
        out = ctx.g_loss(self.D, soft, self.one_hot(x))
        out.stats["G_adv"] = out.loss.detach()
        out.stats["beta"] = torch.tensor(beta)
        return self._with_mle(out, x)

    def _rollout_g(self, x: Tensor, ctx: TrainContext) -> PhaseOutput:
        from ganhub.api import evaluating

        self._adversarial_lr()
        if self.cfg.model.dropout > 0:
            # tokens and their log-probabilities from one pass: the policy (its dropout masks
            # included) whose log-probabilities REINFORCE takes is the one that sampled; it
            # keeps the graph of `length` cached steps, slower than one teacher-forced pass
            seqs, logp = policy_sample(self.G, len(x), self.length, self.vocab, self.known)
        else:  # a deterministic G: one teacher-forced pass scores the very policy that sampled
            seqs = sample_lm(self.G, len(x), self.length, self.vocab, known=self.known)
            logp = lm_logits(self.G, seqs, self.vocab, self.known).float().log_softmax(-1)
            logp = logp.gather(-1, seqs.unsqueeze(-1)).squeeze(-1)

        def reward(s: Tensor) -> Tensor:  # SeqGAN: D's probability of "real"
            # D without dropout, as LantaoYu/SeqGAN scores rollouts (dropout_keep_prob 1.0):
            # in train mode each completion's reward drew its own dropout mask (model.dropout)
            with evaluating(self.D):
                return torch.sigmoid(self.D(self.one_hot(s)).float())

        rollouts = self.cfg.adversarial.rollouts
        kept = in_sentence(seqs).float()  # after the first <eos>: no reward, no gradient
        rewards = rollout_rewards(self.G, seqs, self.vocab, rollouts, reward, self.known) * kept
        baseline = rewards.sum(0, keepdim=True) / kept.sum(0, keepdim=True).clamp_min(1)
        advantage = (rewards - baseline) * kept  # per-position baseline over the sentences
        loss = -(logp * advantage).sum(1).mean()
        reward_mean = rewards.sum() / kept.sum().clamp_min(1)
        # the REINFORCE loss is centred on 0 by its baseline: G_adv is the non-saturating
        # loss of the mean reward (D's probability of "real"), which climbs as D wins
        g_adv = -reward_mean.detach().clamp_min(1e-12).log()
        out = PhaseOutput(loss, {"reward": reward_mean.detach(), "G_adv": g_adv})
        return self._with_mle(out, x)

    def _with_mle(self, out: PhaseOutput, x: Tensor) -> PhaseOutput:
        """adv_weight x the adversarial G loss + mle_weight x MLE on the real batch."""
        if (a := self.cfg.objective.adv_weight) != 1:
            out.loss = a * out.loss
        if (w := self.cfg.objective.mle_weight) > 0:
            mle = mle_loss(lm_logits(self.G, x, self.vocab, self.known), x)
            out.loss = out.loss + w * mle
            out.stats["mle_nll"] = mle.detach()
        return out

    def default_metrics(self) -> list[str]:
        """NLL metrics and BLEU."""
        return ["text_nll", "text_bleu"]


def _tempered_log_probs(logits: Tensor, targets: Tensor, t: float) -> Tensor:
    """float64 log-probabilities (B, L) of `targets` under softmax(logits / t), on the CPU
    (MPS has no float64). Shifted first: logits / 1e-45 overflowed to +-inf, then NaN. The
    targets' terms are float64: a shifted logit of -5 at t = 1e-38 is -5e38, past float32's
    range, so held-out text scored -inf and `nll_gen` was inf (no JSON number); float64 holds
    it, and a sentence's sum of them."""
    if t == 1:
        logp = logits.log_softmax(-1)
        return logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1).cpu().double()
    shifted = logits - logits.amax(-1, keepdim=True)  # <= 0, the largest exactly 0
    norm = (shifted / t).logsumexp(-1).cpu().double()  # finite: its largest term is exp(0)
    gap = shifted.gather(-1, targets.unsqueeze(-1)).squeeze(-1).cpu().double()
    return gap / t - norm
