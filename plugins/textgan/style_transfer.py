"""task=transfer: Style Transformer (Dai et al. 2019) on a small BART.

The encoder reads [<style_t>] + sentence (the target style as its first token); the decoder
writes the sentence in style t. Losses, as in the reference implementation
(fastnlp/style-transformer, `train.py`): self-reconstruction (x in its own style, with word
drop), cycle reconstruction (x -> soft transfer to the other style -> back to x, gradients
through the soft tokens), each summed over tokens and averaged over sentences, and a
style-conditional discriminator (the reference's "Cond" D): it reads [<style>] + tokens and
scores whether the tokens are in that style. Its positives are real sentences and the model's
own soft reconstructions with their style; its negatives are real sentences with the other
style and the soft transfers with their target style. Soft tokens appear on both sides and
real sentences on both sides, so D can only win by telling the styles apart, and the gradient
G gets from it is about style, not about how soft tokens differ from one-hot ones.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn.functional as F
from ganhub_textgan.base import TextSystemBase
from ganhub_textgan.config import TextGANConfig
from ganhub_textgan.controls import files_warning
from ganhub_textgan.corpus import held_out, read_lines
from ganhub_textgan.data import style_corpus
from ganhub_textgan.metrics import classify, paired_bleu, train_style_classifier
from ganhub_textgan.networks import build_d, cached_forward, mask_unwritable, unwritable
from ganhub_textgan.phases import phase_plan, refuse_moved_phases
from ganhub_textgan.textfile import sample_line
from ganhub_textgan.vocab import BOS, EOS, PAD, STYLE0, encode
from torch import Tensor, nn

from ganhub.capabilities import Capabilities
from ganhub.closed_output import say
from ganhub.data import TensorBatches
from ganhub.engine.context import TrainContext
from ganhub.engine.system import BuildHints, Phase, PhaseOutput

if TYPE_CHECKING:
    from transformers import BartForConditionalGeneration

# lines of the sample file a run writes (`ganhub sample` writes --n): up to half of each style
SAMPLE_LINES = 20


def build_seq2seq(config: TextGANConfig, vocab: int) -> BartForConditionalGeneration:
    """A small randomly initialised BART (encoder-decoder) from a config."""
    from transformers import BartConfig, BartForConditionalGeneration

    m = config.model
    cfg = BartConfig(
        vocab_size=vocab, d_model=m.n_embd, encoder_layers=m.n_layer, decoder_layers=m.n_layer,
        encoder_attention_heads=m.n_head, decoder_attention_heads=m.n_head,
        encoder_ffn_dim=4 * m.n_embd, decoder_ffn_dim=4 * m.n_embd,
        max_position_embeddings=config.data.length + 2, dropout=m.dropout, attention_dropout=0.0,
        activation_dropout=0.0, pad_token_id=PAD, bos_token_id=BOS, eos_token_id=EOS,
        decoder_start_token_id=BOS, forced_eos_token_id=None, scale_embedding=False,
    )  # fmt: skip
    return BartForConditionalGeneration(cfg)


class StyleDiscriminator(nn.Module):
    """D(tokens | style): a sequence classifier with one logit per style; the first row of
    its input (the one-hot <style_t> token, `TransferSystem.d_view`) selects the logit of
    style t, a projection-style conditional D. A CNN with max-pooling would see a style token
    written in front of the sentence only in the windows next to it."""

    def __init__(self, net: nn.Module, styles: int = 2) -> None:
        super().__init__()
        self.net = net
        self.styles = styles

    def forward(self, view: Tensor) -> Tensor:
        """Logits (B,) of (B, 1 + L, V) views: [<style_t>] + one-hot or soft rows."""
        select = view[:, 0, STYLE0 : STYLE0 + self.styles]
        return (self.net(view[:, 1:]) * select).sum(1)


class TransferSystem(TextSystemBase):
    """G: the seq2seq style rewriter; D: a style-conditional sequence discriminator."""

    generator_names = ("G",)
    discriminator_names = ("D",)
    # G's adversarial loss alone: loss/G adds the self- and cycle-reconstruction terms, which
    # fall while D wins (the health monitor's "D wins outright" reads this one)
    g_loss_stats: ClassVar[dict[str, str]] = {"": "G_adv"}

    def __init__(self, config: TextGANConfig, hints: BuildHints | None = None) -> None:
        super().__init__(config, hints)
        self.length = config.data.length
        self.G = build_seq2seq(config, self.vocab)
        self.D = StyleDiscriminator(build_d(config.model, self.vocab, self.length, outputs=2))
        self.noted = False  # whether the note that held-out sentences repeat was printed

    # -- corpus ------------------------------------------------------------------------

    @cached_property
    def corpus(self) -> dict[str, Any]:
        """Train/test sentences per style and, for the embedded corpus, the true transfers."""
        d = self.cfg.data
        if d.style_paths is None:
            sents, truth = style_corpus(d.n_train + d.n_test, seed=self.cfg.seed + 7)
            return {
                "train": [s[: d.n_train] for s in sents],
                "test": [s[d.n_train :] for s in sents],
                "truth": [t[d.n_train :] for t in truth],
            }
        lines = [read_lines(p, f"data.style_paths[{i}]") for i, p in enumerate(d.style_paths)]
        n_test = [held_out(len(x), d.n_test) for x in lines]
        return {
            "train": [x[k:] for x, k in zip(lines, n_test, strict=True)],
            "test": [x[:k] for x, k in zip(lines, n_test, strict=True)],
            "truth": None,
        }

    def tokenizer_texts(self) -> list[str]:
        """Both styles' training sentences."""
        return self.corpus["train"][0] + self.corpus["train"][1]

    def encode(self, texts: list[str]) -> Tensor:
        """Token ids (N, length) with <eos>."""
        return encode(self.tokenizer, texts, self.length)

    @cached_property
    def train_ids(self) -> tuple[Tensor, Tensor]:
        """(ids, styles) of the training sentences of both styles."""
        a, b = self.corpus["train"]
        ids = self.encode(a + b)
        return ids, torch.cat([torch.zeros(len(a)), torch.ones(len(b))]).long()

    def data(self) -> TensorBatches:
        """(ids, style) pairs, both styles mixed; `real_samples` gives their ids."""
        return TensorBatches(*self.train_ids)

    def capabilities(self) -> Capabilities:
        """A translator of token ids: `sample` rewrites held-out sentences (not drawn from
        noise); it scores its own transfers ('style_transfer', `ganhub_textgan.metrics`)."""
        return Capabilities(
            modality="tokens",
            samples=False,
            task="transfer",
            provides=frozenset({"style_transfer"}),
        )

    # -- the model ---------------------------------------------------------------------

    def style_index(self, to: str | int, option: str = "--to") -> int:
        """Style number of a style name, or of 0/1 (an int, or '0'/'1' as a command line gives
        it); an error names `option` as its caller spells it (`--to`, or `to=` in Python)."""
        names = self.cfg.data.style_names
        if isinstance(to, str) and to in names:
            return names.index(to)
        if to in ("0", "1") or (type(to) is int and to in (0, 1)):
            return int(to)
        from ganhub.errors import UsageError, did_you_mean, one_line

        shown = one_line(f"{option}{to!r}" if option.endswith("=") else f"{option} {to}", 80)
        hint = did_you_mean(to, names) if isinstance(to, str) else ""
        choices = " or ".join(names)
        raise UsageError(f"{shown}: choose {choices} (or 0 or 1){hint}")

    def _encoder_ids(self, x: Tensor, style: Tensor) -> tuple[Tensor, Tensor]:
        ids = torch.cat([(STYLE0 + style)[:, None], x], 1)
        return ids, (ids != PAD).long()

    def logits(
        self, x: Tensor, style: Tensor, target: Tensor, soft: Tensor | None = None,
        written: bool = False,
    ) -> Tensor:  # fmt: skip
        """Teacher-forced logits (B, L, V) for writing `target` from x (or soft rows) in `style`,
        -inf at <pad>, and with `written` (the soft rows of a rewrite) at <bos> and the style
        tokens too (`_writable`)."""
        ids, mask = self._encoder_ids(x, style)
        dec = torch.cat([torch.full_like(target[:, :1], BOS), target[:, :-1]], 1)
        if soft is None:
            out = self.G(input_ids=ids, attention_mask=mask, decoder_input_ids=dec).logits
            return self._writable(out, written)
        emb = self.G.get_input_embeddings()
        assert isinstance(emb, nn.Embedding)  # BART's token embeddings; typed as any nn.Module
        embeds = torch.cat([emb(ids[:, :1]), soft @ emb.weight], 1)
        out = self.G(inputs_embeds=embeds, attention_mask=mask, decoder_input_ids=dec).logits
        return self._writable(out, written)

    @staticmethod
    def _writable(logits: Tensor, written: bool = False) -> Tensor:
        """-inf at <pad>: what follows <eos>, never a word of the rewrite. The reconstruction
        loss ignores padded targets, so nothing taught the decoder not to write it, and a
        greedy rewrite could hold <pad> mid-sentence (a hole D saw as a zero row).

        `written` (the greedy decode and the soft rows, what the decoder writes): -inf at <bos>
        and the style tokens as well (`unwritable`), which no sentence holds and `decode` drops
        (a rewrite that began with <bos> printed an empty line). The losses' teacher-forced
        logits leave them finite: a target id always has a finite log-probability."""
        if written:
            return mask_unwritable(logits, unwritable(None, logits.shape[-1], logits.device))
        pad = torch.arange(logits.shape[-1], device=logits.device) == PAD
        return mask_unwritable(logits, pad)

    def generator(
        self, name: str | None = None, use_ema: bool = True
    ) -> BartForConditionalGeneration:
        """The BART to rewrite with: its EMA copy when one exists and `use_ema`."""
        from transformers import BartForConditionalGeneration

        g = super().generator(name, use_ema)
        assert isinstance(g, BartForConditionalGeneration)  # G, or the EMA trick's copy of it
        return g

    @torch.no_grad()
    def rewrite(self, x: Tensor, style: Tensor, use_ema: bool = True) -> Tensor:
        """Greedy rewrite of x (B, L) into `style` (B,): token ids (B, L), KV-cached decoding."""
        g = self.generator(use_ema=use_ema)
        ids, mask = self._encoder_ids(x, style)
        enc = g.get_encoder()(input_ids=ids, attention_mask=mask)
        tok = torch.full((len(x), 1), BOS, dtype=torch.long, device=x.device)
        past: Any = None
        out = []
        done = torch.zeros(len(x), dtype=torch.bool, device=x.device)
        for _ in range(self.length):
            logits, past = cached_forward(
                g, past, encoder_outputs=enc, attention_mask=mask, decoder_input_ids=tok
            )
            tok = self._writable(logits[:, -1], written=True).argmax(-1, keepdim=True)
            out.append(tok)
            done |= tok[:, 0] == EOS
            # one host sync per token; on the short corpora it halves the decoding time
            if bool(done.all()):
                break
        y = torch.cat(out, 1)
        after_eos = (y == EOS).long().cumsum(1) - (y == EOS).long() > 0
        y = y.masked_fill(after_eos, PAD)
        return F.pad(y, (0, self.length - y.shape[1]), value=PAD)

    def soft_rewrite(
        self, x: Tensor, style: Tensor, hard: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """(hard ids, soft rows with gradients to G) of x rewritten into `style`."""
        if hard is None:
            hard = self.rewrite(x, style, use_ema=not self.training)
        logits = self.logits(x, style, hard, written=True).float()
        soft = F.softmax(logits / self.cfg.transfer.temperature, -1)
        return hard, soft * (hard != PAD).unsqueeze(-1)

    # -- phases ------------------------------------------------------------------------

    def phases(self) -> list[Phase]:
        """Self-reconstruction alone for pretrain_steps, then D and the full G objective."""
        start = self.cfg.adversarial.pretrain_steps
        return [
            Phase("rec", "G", self._rec, stop=start),
            Phase("D", "D", self._d, start=start),  # tricks=[n_critic]: several D steps
            Phase("G", "G", self._g, start=start),
        ]

    def resume_state(self) -> dict[str, Any]:
        """The phase boundaries, so a resume cannot move one the run has passed."""
        return {
            "phases": phase_plan(self.cfg),
            "data_files": self.data_files(),
            "data_sha256": self.data_digest(),
        }

    def file_sentences(self) -> list[str]:
        """Both style files' sentences (none: the template corpus)."""
        if self.cfg.data.style_paths is None:
            return []
        return [t for part in ("train", "test") for style in self.corpus[part] for t in style]

    def load_resume_state(self, state: dict[str, Any], step: int) -> None:
        """Refuse a resume that moves the end of reconstruction after the run passed it; note
        one that reads other data.style_paths (`before_training`)."""
        refuse_moved_phases(state.get("phases"), self.cfg, step)
        self.note_data_files(state)
        self.reencode_after_resume()

    def encoded_sets(self) -> list[tuple[Tensor, list[str]]]:
        """Both styles' training ids, when encoded."""
        if "train_ids" not in self.__dict__:
            return []
        a, b = self.corpus["train"]
        return [(self.train_ids[0], a + b)]

    def before_training(self) -> list[str]:
        """A note when a resume reads other data.style_paths (`moved_data_note`), and a
        warning when their sentences hold control characters (`controls.files_warning`)."""
        paths = self.cfg.data.style_paths
        found = files_warning(paths, self.file_sentences()) if paths is not None else []
        return [*self.moved_data_note(), *found]

    def token_rows(self) -> Tensor:
        """Both styles' training token ids."""
        return self.train_ids[0]

    def d_view(self, rows: Tensor, style: Tensor) -> Tensor:
        """D's input: [<style>] + one-hot or soft rows, (B, L+1, V)."""
        head = F.one_hot(STYLE0 + style, self.vocab).float()[:, None]
        return torch.cat([head, rows], 1)

    def one_hot(self, x: Tensor) -> Tensor:
        """Token ids as one-hot rows (B, L, V), zero rows at padding like the soft rows."""
        return F.one_hot(x, self.vocab).float() * (x != PAD).unsqueeze(-1)

    def _self_rec(self, x: Tensor, style: Tensor) -> tuple[Tensor, Tensor]:
        drop = torch.rand(x.shape, device=x.device) < self.cfg.transfer.denoise
        noisy = x.masked_fill(drop & (x != EOS) & (x != PAD), PAD)
        return _nll(self.logits(noisy, style, x), x)

    def _rec(self, batch: tuple[Tensor, Tensor], ctx: TrainContext) -> PhaseOutput:
        x, style = batch
        loss, per_token = self._self_rec(x, style)
        return PhaseOutput(loss, {"self_rec": per_token})

    def _d(self, batch: tuple[Tensor, Tensor], ctx: TrainContext) -> PhaseOutput:
        x, style = batch
        with torch.no_grad():
            hard, transfer = self.soft_rewrite(x, 1 - style)
            # the reference decodes the reconstruction freely; after pretraining the greedy
            # reconstruction is x, so one teacher-forced pass on x gives the same soft rows
            # without a second decode
            logits = self.logits(x, style, x, written=True).float()
            recon = F.softmax(logits / self.cfg.transfer.temperature, -1)
            recon = recon * (x != PAD).unsqueeze(-1)
        # G has not moved since: its phase on this batch reuses the greedy decode (one of two)
        ctx.cache["transfer_hard"] = (x, hard)
        rows = self.one_hot(x)
        real = torch.cat([self.d_view(rows, style), self.d_view(recon, style)])
        fake = torch.cat([self.d_view(rows, 1 - style), self.d_view(transfer, 1 - style)])
        return ctx.d_loss(self.D, real, fake)

    def _g(self, batch: tuple[Tensor, Tensor], ctx: TrainContext) -> PhaseOutput:
        x, style = batch
        t = self.cfg.objective
        rec, rec_token = self._self_rec(x, style)
        cached = ctx.cache.get("transfer_hard")
        hard, soft = self.soft_rewrite(
            x, 1 - style, cached[1] if cached and cached[0] is x else None
        )
        # back to x through the soft tokens
        cyc, cyc_token = _nll(self.logits(hard, style, x, soft=soft), x)
        real = self.d_view(self.one_hot(x), style)
        adv = ctx.g_loss(self.D, self.d_view(soft, 1 - style), real)
        adv.stats.update(
            {"self_rec": rec_token, "cycle_rec": cyc_token, "G_adv": adv.loss.detach()}
        )
        adv.loss = t.self_weight * rec + t.cycle_weight * cyc + t.adv_weight * adv.loss
        return adv

    # -- samples and scores ------------------------------------------------------------

    def sample(
        self, n: int, *, seed: int | None = None, use_ema: bool = True, labels: Tensor | None = None
    ) -> Tensor:
        """Rewrites (n, L) into the other style of `n` held-out sentences (`transfer_inputs`)."""
        self.refuse_labels(labels)
        return self._rewrites(*self.transfer_inputs(n, seed or 0), use_ema)

    def transfer_inputs(self, n: int | None, seed: int = 0) -> tuple[list[str], Tensor]:
        """Held-out sentences to transfer and their styles (N,), each style's in file order for
        seed 0 and in a seeded order for another (the rewrite itself is deterministic: the
        seed chooses what is rewritten). `n` of them, the styles alternating (style 0 first,
        so it takes the odd one): the first k of n are the k asked for at that seed, where
        style 0's block first split 3 and 5 differently; a style holding out fewer than its
        share repeats them (cycled), which one note on stderr says. None: the sample file's
        usual count, up to `SAMPLE_LINES` // 2 of each style, none repeated, style 0's first."""
        test = self.corpus["test"]
        if n is None:
            shares = [min(SAMPLE_LINES // 2, len(pool)) for pool in test]
        else:
            shares = [n - n // 2, n // 2]
        draw = torch.Generator().manual_seed(seed)
        orders = [
            torch.randperm(len(pool), generator=draw).tolist() if seed else range(len(pool))
            for pool in test
        ]
        if n is None:  # the sample file: one block per style
            picks = [(k, i) for k, share in enumerate(shares) for i in range(share)]
        else:  # alternating: prefix-stable in n
            picks = [(j % 2, j // 2) for j in range(n)]
        texts = [test[k][orders[k][i % len(test[k])]] for k, i in picks]
        if any(k > len(pool) for pool, k in zip(test, shares, strict=True)) and not self.noted:
            self.noted = True
            names = self.cfg.data.style_names
            held = " and ".join(f"{len(pool)} {names[i]}" for i, pool in enumerate(test))
            say(
                f"ganhub: note: {n} transfers asked for, and this run holds out {held} "
                f"sentences: they repeat (cycled) to give {n}",
            )
        return texts, torch.tensor([k for k, _ in picks], dtype=torch.long)

    def test_ids(self, n: int) -> tuple[Tensor, Tensor]:
        """(ids, styles) of up to n held-out sentences per style (what `scores` rewrites)."""
        a, b = (s[:n] for s in self.corpus["test"])
        return self.encode(a + b), torch.cat([torch.zeros(len(a)), torch.ones(len(b))]).long()

    def sample_texts(self, n: int | None, seed: int) -> list[str]:
        """'[from -> to] source => transfer' lines for `n` held-out sentences chosen by `seed`
        (`transfer_inputs`; None: up to `SAMPLE_LINES`), the source and its rewrite each
        written as `sample_line` writes a sample (a rewrite of no words is `(empty)`)."""
        texts, style = self.transfer_inputs(n, seed)
        out = self.decode(self._rewrites(texts, style))
        names = self.cfg.data.style_names
        return [
            f"[{names[k]} -> {names[1 - k]}] {sample_line(s)} => {sample_line(o)}"
            for s, k, o in zip(texts, style.tolist(), out, strict=True)
        ]

    def sample_file_lines(self, n: int | None, seed: int) -> list[str]:
        """`sample_texts`, whose parts are already escaped (escaping the whole line again
        would double each backslash)."""
        return self.sample_texts(n, seed)

    def _rewrites(self, texts: list[str], style: Tensor, use_ema: bool = True) -> Tensor:
        """`texts` (of styles `style`) rewritten into the other style, token ids (N, L)."""
        x = self.encode(texts).to(self.device)
        return self.rewrite(x, (1 - style).to(self.device), use_ema)

    @cached_property
    def classifier(self) -> Tensor:
        """Bag-of-words style classifier trained on the two training corpora."""
        ids, styles = self.train_ids
        return train_style_classifier(ids, styles, self.vocab)

    def scores(self, n: int) -> dict[str, float]:
        """Style accuracy, self-BLEU (vs source), ref-BLEU (vs true transfer) of the transfers
        of up to n held-out sentences per style, and `n_samples`, how many were scored."""
        x, style = self.test_ids(n)
        y = self.rewrite(x.to(self.device), (1 - style).to(self.device)).cpu()
        src = self.decode(x)
        out_text = self.decode(y)
        out = {
            "style_acc": float(
                (classify(self.classifier, y, self.vocab) == 1 - style).float().mean()
            ),
            "style_acc_source": float(
                (classify(self.classifier, x, self.vocab) == style).float().mean()
            ),
            "self_bleu": paired_bleu(out_text, src),
        }
        if self.corpus["truth"] is not None:
            truth = self.corpus["truth"][0][:n] + self.corpus["truth"][1][:n]
            out["ref_bleu"] = paired_bleu(out_text, truth)
            out["ref_bleu_copy"] = paired_bleu(src, truth)  # the do-nothing baseline
        out["n_samples"] = float(len(x))  # what was scored; `ganhub eval` notes fewer than asked
        return out

    def default_metrics(self) -> list[str]:
        """The transfer scores."""
        return ["style_transfer"]


def _nll(logits: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """(token cross-entropy summed over each sentence and averaged over sentences, as the
    reference weighs its losses; the detached mean per token, for the logs)."""
    nll = F.cross_entropy(
        logits.flatten(0, 1).float(), target.flatten(), ignore_index=PAD, reduction="none"
    )
    tokens = (target != PAD).sum().clamp_min(1)
    return nll.sum() / len(target), (nll.sum() / tokens).detach()


__all__ = ["TransferSystem"]
