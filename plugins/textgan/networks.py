"""Networks: G (a transformers causal LM), D (CNN or transformer over token embeddings),
batched sampling with a KV cache, Gumbel soft tokens and batched Monte-Carlo rollouts."""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from ganhub_textgan.vocab import BOS, EOS, PAD, STYLE0
from torch import Tensor, nn

from ganhub.errors import UsageError

if TYPE_CHECKING:
    from ganhub_textgan.config import TextModel


def build_lm(cfg: TextModel, vocab: int, length: int) -> nn.Module:
    """G: the causal LM in the local `cfg.path` (its weights), else one built from
    `cfg.lm_config` (random init: a trained run's LM whose directory is gone, rebuilt for its
    checkpoint's weights), else a GPT-2 from the model.* sizes (random init)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    if cfg.path is not None and (cfg.lm_config is None or Path(cfg.path).is_dir()):
        return load_local_lm(cfg.path, vocab, length)
    if cfg.lm_config is not None:
        return lm_from_config(cfg.lm_config, vocab, length)
    config = GPT2Config(
        vocab_size=vocab, n_positions=length + 1, n_embd=cfg.n_embd, n_layer=cfg.n_layer,
        n_head=cfg.n_head, n_inner=4 * cfg.n_embd, resid_pdrop=cfg.dropout,
        embd_pdrop=cfg.dropout, attn_pdrop=cfg.dropout, bos_token_id=BOS, eos_token_id=BOS,
    )  # fmt: skip
    return GPT2LMHeadModel(config)


# config.json keys that bound a model's positions, in the order transformers' configs use them
POSITION_KEYS = ("n_positions", "max_position_embeddings", "n_ctx", "max_seq_len", "seq_length")


def model_dir_problems(path: Path, length: int, vocab: int) -> list[str]:
    """What makes the model directory `path` unusable as task=generate's G, read from its
    config.json alone (no weights, nothing downloaded): not a decoder-only causal LM (an
    encoder such as BERT sees the tokens it predicts, an encoder-decoder needs a source), fewer
    positions than `data.length`, fewer token embeddings than the tokenizer's `vocab`."""
    key = f"model.path={path}"
    file = Path(path) / "config.json"
    if not file.is_file():
        return [f"{key}: no config.json there (a save_pretrained directory)"]
    try:
        cfg = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"{key}: config.json is not readable JSON ({str(exc).splitlines()[0]})"]
    return lm_config_problems(cfg, length, vocab, key, "config.json")


def lm_config_problems(cfg: Any, length: int, vocab: int, key: str, where: str) -> list[str]:
    """What makes a transformers config (a config.json's dict, or `model.lm_config`) unusable
    as task=generate's G: see `model_dir_problems`. `key` and `where` name it in the lines."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    if not isinstance(cfg, dict) or not isinstance(cfg.get("model_type"), str):
        return [f"{key}: {where} names no model_type{_parsed_keys(cfg)}"]
    kind = cfg["model_type"]
    archs = [a for a in cfg.get("architectures") or [] if isinstance(a, str)]
    what = f"{archs[0]} (model_type '{kind}')" if archs else f"model_type '{kind}'"
    works = (
        "task=generate trains a decoder-only causal LM as G: give a directory whose "
        "architectures end in ForCausalLM or LMHeadModel (GPT-2, Llama, ...)"
    )
    if cfg.get("is_encoder_decoder"):
        return [f"{key}: {what} is an encoder-decoder model; {works}"]
    if kind not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        return [f"{key}: {what} has no causal-LM head in transformers; {works}"]
    if kind in MODEL_FOR_MASKED_LM_MAPPING_NAMES and not (
        cfg.get("is_decoder") or cfg.get("causal")
    ):
        return [
            f"{key}: {what} is an encoder-only model: its attention sees the whole sentence, "
            f"so MLE training would see the tokens it predicts; {works}, or a {kind} saved "
            "with is_decoder=true"
        ]
    problems = []
    bound = next((k for k in POSITION_KEYS if isinstance(cfg.get(k), int)), None)
    if bound is not None and cfg[bound] < length:
        problems.append(
            f"{key}: the model has {cfg[bound]} positions ({bound}), data.length={length} "
            f"needs {length}; lower data.length or give a model with more positions"
        )
    have = cfg.get("vocab_size")
    if isinstance(have, int) and have < vocab:
        problems.append(
            f"{key}: the model has {have} token embeddings (vocab_size), the tokenizer needs "
            f"{vocab} (data.tokenizer_vocab)"
        )
    return problems


def _parsed_keys(cfg: Any) -> str:
    """What a config without a model_type holds, and the fix when YAML read `{model_type:gpt2}`
    as one key 'model_type:gpt2' (a flow mapping needs a space after each colon)."""
    if not isinstance(cfg, dict):
        return ""
    keys = [str(k) for k in cfg][:5]
    shown = f" (got keys {keys}{' ...' if len(cfg) > 5 else ''})"
    glued = [k for k in keys if ":" in k and cfg[k] is None]
    if not glued:
        return shown
    fixed = ", ".join(": ".join(part.strip() for part in k.split(":", 1)) for k in glued)
    return f"{shown}; write {{{fixed}}}, with a space after each colon"


def load_local_lm(path: Path, vocab: int, length: int) -> nn.Module:
    """A causal LM from a local directory only (never downloads), checked first with
    `model_dir_problems`; its vocabulary must fit."""
    from transformers import AutoModelForCausalLM

    problems = model_dir_problems(path, length, vocab)
    if problems:
        raise UsageError("; ".join(problems))
    try:
        lm = AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"model.path={path}: cannot load a causal LM ({first})") from None
    embeddings = lm.get_input_embeddings()
    assert isinstance(embeddings, nn.Embedding)  # transformers types it as any nn.Module
    have = embeddings.num_embeddings
    if have < vocab:
        raise UsageError(
            f"model.path={path}: the model has {have} token embeddings, the tokenizer needs {vocab}"
        )
    return lm


def lm_from_config(config: dict[str, Any], vocab: int, length: int) -> nn.Module:
    """A causal LM of the architecture `config` describes (a config.json's dict), with random
    weights; refused in one line when it could not be G (`lm_config_problems`)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    problems = lm_config_problems(config, length, vocab, "model.lm_config", "it")
    if problems:
        raise UsageError("; ".join(problems))
    kwargs = {k: v for k, v in config.items() if k not in ("model_type", "auto_map")}
    try:
        lm_config = AutoConfig.for_model(config["model_type"], **kwargs)
        return AutoModelForCausalLM.from_config(lm_config)
    except (TypeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"model.lm_config: cannot build a causal LM from it ({first})") from None


@functools.lru_cache(maxsize=64)
def cache_argument(forward: Callable[..., Any]) -> str:
    """The KV-cache keyword of a model's forward function: `cache` in transformers 5, else
    `past_key_values`. Cached per function: inspect.signature on every sampled token was
    about 2% of a default task=generate step on a CPU."""
    return "cache" if "cache" in inspect.signature(forward).parameters else "past_key_values"


def cached_forward(model: nn.Module, cache: Any, **inputs: Any) -> tuple[Tensor, Any]:
    """One KV-cached forward: (logits, new cache); `cache` in transformers 5, else
    past_key_values."""
    key = cache_argument(getattr(model.forward, "__func__", model.forward))
    out = model(**inputs, **{key: cache}, use_cache=True)
    new = out.get("cache")
    return out.logits, new if new is not None else out.get("past_key_values")


Known = int | Tensor | None
"""The ids G may write: all (None), those below a count (a tokenizer trained on a small file),
or a bool mask over the vocabulary on G's device (the oracle's words, not the special tokens).
<pad> is never among them (`unwritable`)."""


def unwritable(known: Known, vocab: int, device: torch.device) -> Tensor:
    """(vocab,) bool on `device`, True at the ids G never writes: <pad>, <bos> and the two
    style tokens always (no sentence holds them: `encode` reads their text as <unk>, and
    `decode` dropped them, so a G that wrote <bos> printed a shorter or empty line), and the ids
    `known` leaves out (at and above an int `known`, which a tokenizer trained on a small file
    does not have; outside a bool mask, the oracle task's special tokens, which the oracle's
    language has not: SeqGAN's G draws from the oracle's words only).

    <pad> is what follows a sentence's <eos>, never a token of it: MLE ignores padded
    positions, so nothing taught G not to write it, and a G whose <pad> logit was high wrote it
    mid-sentence (a hole D saw as a zero row and `decode` dropped). Built from an arange on the
    device: no host sync, once per sampling pass."""
    ids = torch.arange(vocab, device=device)
    blocked = (ids == PAD) | (ids == BOS) | ((ids >= STYLE0) & (ids <= STYLE0 + 1))
    if isinstance(known, Tensor):
        return blocked | ~known.to(device)  # a no-op move
    if known is not None and known < vocab:
        blocked = blocked | (ids >= known)
    return blocked


def mask_unwritable(logits: Tensor, blocked: Tensor) -> Tensor:
    """`logits` (..., vocab) with -inf at the ids `blocked` (`unwritable`) marks: G never
    writes, or spreads probability over, them. -inf is exact in bf16 and fp16 too, and its
    softmax weight and gradient are 0."""
    return logits.masked_fill(blocked, float("-inf"))


def lm_logits(lm: nn.Module, x: Tensor, vocab: int, known: Known = None) -> Tensor:
    """Teacher-forced next-token logits (B, L, vocab) of G for targets x (B, L), -inf at the
    ids G never writes (`unwritable`: <pad>, the ids `known` leaves out), so MLE and the
    likelihoods score the distribution G samples from. A target <pad> has logit -inf: MLE
    ignores those positions (`mle_loss`), and likelihoods leave them out."""
    inp = torch.cat([torch.full_like(x[:, :1], BOS), x[:, :-1]], 1)
    logits = lm(input_ids=inp).logits[..., :vocab]
    return mask_unwritable(logits, unwritable(known, vocab, logits.device))


def gumbel(shape: tuple[int, ...], device: torch.device, gen: torch.Generator | None) -> Tensor:
    """Standard Gumbel noise (from `gen` when given, else the global RNG)."""
    u = torch.rand(shape, generator=gen, device=gen.device if gen is not None else device)
    return _gumbel_of(u.to(device))


def _gumbel_of(u: Tensor) -> Tensor:
    """Gumbel noise of uniform draws u."""
    return -torch.log(-torch.log(u.clamp(1e-10, 1.0 - 1e-7)))


# samples per seeded noise stream (`chunk_generators`)
SAMPLE_CHUNK = 16


def chunk_generators(seed: int, n: int) -> list[torch.Generator]:
    """One CPU generator per `SAMPLE_CHUNK` samples, the k-th seeded from (seed, k): sample i's
    noise comes from stream i // SAMPLE_CHUNK only, so `n` samples at a seed begin with the
    same sentences as fewer samples at that seed (a single stream drawn per position gave
    sample i noise at an offset that depends on n)."""
    chunks = -(-n // SAMPLE_CHUNK)
    return [
        torch.Generator().manual_seed((seed + k * 0x9E3779B97F4A7C15) % 2**64)
        for k in range(chunks)
    ]


def chunk_gumbel(gens: list[torch.Generator], n: int, vocab: int, device: torch.device) -> Tensor:
    """Gumbel noise (n, vocab) for one position, `SAMPLE_CHUNK` full rows from each stream of
    `chunk_generators` (a short last chunk draws the full rows too, so a stream's position i
    starts at the same offset whatever n is). One draw per stream and position: the cost of
    one (n, vocab) draw, within a few percent."""
    u = torch.cat([torch.rand((SAMPLE_CHUNK, vocab), generator=g) for g in gens])[:n]
    return _gumbel_of(u.to(device))


@torch.no_grad()
def sample_lm(
    lm: nn.Module, n: int, length: int, vocab: int, *, gen: torch.Generator | None = None,
    forced: Tensor | None = None, keep: Tensor | None = None, noise: Tensor | None = None,
    temperature: float = 1.0, known: Known = None, seed: int | None = None,
) -> Tensor:  # fmt: skip
    """Sample (n, length) tokens with a KV cache (Gumbel-max on the logits / `temperature`).

    `forced`/`keep` (n, length) fix the tokens where `keep` is True (rollouts continue a given
    prefix); `noise` (n, length, vocab) is the Gumbel noise to use, else drawn from the
    streams of `seed` (`chunk_generators`: prefix-stable in n), else from `gen`, else from the
    global RNG; <pad> and the ids `known` leaves out are never drawn (`unwritable`).

    argmax(logits / T + g) is computed as argmax(logits + T * g), the same token for any
    T > 0: dividing overflowed float32 for a tiny T (1e-45 made every logit +-inf, and the
    argmax of a row of +inf was its first id), while T * g tends to 0, the greedy limit.
    """
    device = next(lm.parameters()).device
    blocked = unwritable(known, vocab, device)
    streams = chunk_generators(seed, n) if seed is not None and noise is None else None
    tok = torch.full((n, 1), BOS, dtype=torch.long, device=device)
    past: Any = None
    out = []
    for i in range(length):
        logits, past = cached_forward(lm, past, input_ids=tok)
        if noise is not None:
            g = noise[:, i]
        elif streams is not None:
            g = chunk_gumbel(streams, n, vocab, device)
        else:
            g = gumbel((n, vocab), device, gen)
        step_logits = mask_unwritable(logits[:, -1, :vocab].float(), blocked)
        if temperature != 1:
            g = g * temperature
        tok = (step_logits + g).argmax(-1, keepdim=True)
        if forced is not None and keep is not None:
            tok = torch.where(keep[:, i : i + 1], forced[:, i : i + 1], tok)
        out.append(tok)
    return torch.cat(out, 1)


def gumbel_tokens(
    lm: nn.Module, n: int, length: int, vocab: int, beta: float, known: Known = None
) -> Tensor:
    """RelGAN's relaxed samples: soft one-hot (n, length, vocab) with gradients to G.

    One KV-cached pass, as RelGAN's generator runs: at each position the token is the
    Gumbel-max sample argmax(logits + g) and the next input, and the soft token is
    softmax(beta * (logits + g)) of the same logits and noise, a differentiable surrogate whose
    argmax is exactly the sampled token. One pass draws one set of dropout masks
    (`model.dropout`): sampling first and then scoring the tokens in a second, teacher-forced
    pass drew other masks, and at dropout 0.1 about 4% of the soft tokens' argmaxes were not
    the tokens sampled. Under torch.no_grad (the D phase) the pass records nothing. <pad> and
    the ids `known` leaves out get logit -inf (`unwritable`): never sampled, no soft weight.
    """
    device = next(lm.parameters()).device
    blocked = unwritable(known, vocab, device)
    noise = gumbel((n, length, vocab), device, None)
    tok = torch.full((n, 1), BOS, dtype=torch.long, device=device)
    past: Any = None
    soft = []
    for i in range(length):
        logits, past = cached_forward(lm, past, input_ids=tok)
        perturbed = mask_unwritable(logits[:, -1, :vocab].float(), blocked) + noise[:, i]
        tok = perturbed.detach().argmax(-1, keepdim=True)  # on the device: no host sync
        soft.append(F.softmax(beta * perturbed, -1))
    return torch.stack(soft, 1)


def policy_sample(
    lm: nn.Module, n: int, length: int, vocab: int, known: Known = None
) -> tuple[Tensor, Tensor]:
    """SeqGAN's policy pass: (n, length) tokens sampled from G and their log-probabilities
    (n, length) with gradients to G, taken in the one KV-cached pass that drew them.

    With `model.dropout` > 0, G in train mode is a policy whose dropout masks are part of its
    randomness: REINFORCE needs the log-probabilities of that policy, the one that sampled.
    Sampling first and then scoring the tokens in a teacher-forced pass (LantaoYu/SeqGAN's
    g_predictions, exact there because its G has no dropout) drew other masks, an off-policy
    gradient. The masks' distribution does not depend on G's weights, so the gradient of this
    pass's log-probabilities is unbiased for the expected reward. <pad> and the ids `known`
    leaves out are never drawn (`unwritable`)."""
    device = next(lm.parameters()).device
    blocked = unwritable(known, vocab, device)
    tok = torch.full((n, 1), BOS, dtype=torch.long, device=device)
    past: Any = None
    tokens, log_probs = [], []
    for _ in range(length):
        logits, past = cached_forward(lm, past, input_ids=tok)
        step = mask_unwritable(logits[:, -1, :vocab].float(), blocked).log_softmax(-1)
        tok = (step.detach() + gumbel((n, vocab), device, None)).argmax(-1, keepdim=True)
        tokens.append(tok)
        log_probs.append(step.gather(-1, tok))  # on the device: no host sync
    return torch.cat(tokens, 1), torch.cat(log_probs, 1)


def in_sentence(ids: Tensor) -> Tensor:
    """(B, L) True at the tokens of each sentence: up to and including its first <eos>, and
    not <pad>. What follows the first <eos> is no part of the sentence: a real one has <pad>
    there, G (trained by MLE, which ignores padding) writes anything, so D sees neither
    (`ganhub_textgan.system`: zero rows on both sides) and no reward or gradient goes there."""
    eos = (ids == EOS).long()
    return (eos.cumsum(1) - eos == 0) & (ids != PAD)


def end_sentences(ids: Tensor) -> Tensor:
    """Token ids with <pad> after each sentence's first <eos>, as the corpus encodes them."""
    return ids.masked_fill(~in_sentence(ids), PAD)


@torch.no_grad()
def rollout_rewards(
    lm: nn.Module, seqs: Tensor, vocab: int, rollouts: int, reward: Callable[[Tensor], Tensor],
    known: Known = None,
) -> Tensor:  # fmt: skip
    """SeqGAN's per-token rewards (B, L): for each prefix length t < L, the mean reward of
    `rollouts` completions sampled from G; for t = L the reward of the sequence itself.

    All B * (L-1) * rollouts completions are sampled in one batched pass (one KV-cached
    sweep over the positions), then scored by `reward` in one call.
    """
    b, length = seqs.shape
    t = torch.arange(1, length, device=seqs.device)  # prefix lengths 1 .. L-1
    forced = seqs[:, None, None, :].expand(b, length - 1, rollouts, length).reshape(-1, length)
    keep = torch.arange(length, device=seqs.device)[None, :] < t[:, None]  # (L-1, L)
    keep = keep[None, :, None, :].expand(b, length - 1, rollouts, length).reshape(-1, length)
    completions = sample_lm(lm, len(forced), length, vocab, forced=forced, keep=keep, known=known)
    partial = reward(completions).view(b, length - 1, rollouts).mean(2)
    return torch.cat([partial, reward(seqs).view(b, 1)], 1)


class TokenEmbedding(nn.Linear):
    """D's token embeddings as the linear map they are: a soft one-hot row x (the Gumbel path)
    becomes x @ weight, and a token id the row of `weight` a one-hot row would pick.

    An nn.Linear, so the spectral_norm trick wraps it (it is D's first linear map of its
    input: left out, D's Lipschitz constant had no bound) and `init` treats it as before. The
    table is stored as nn.Embedding's, (vocab, embd), under the same key `embed.weight`, drawn
    from N(0, 1) as nn.Embedding draws it: checkpoints of earlier runs load, and a run without
    those tricks trains exactly as before.
    """

    def __init__(self, vocab: int, embd: int) -> None:
        super().__init__(embd, vocab, bias=False)  # weight (out, in) = (vocab, embd)

    def reset_parameters(self) -> None:
        """N(0, 1), nn.Embedding's initialisation (and its draws from the RNG)."""
        nn.init.normal_(self.weight)

    def forward(self, x: Tensor) -> Tensor:
        """Embeddings (..., embd) of token ids (long) or of soft one-hot rows (..., vocab)."""
        return F.embedding(x, self.weight) if x.dtype == torch.long else x @ self.weight


class CNNDiscriminator(nn.Module):
    """Token-sequence classifier: embeddings, convolutions of widths 2-5, max-pool, highway, linear.

    Takes token ids (B, L) or soft one-hot rows (B, L, V), which go through the embedding
    matrix as a weighted sum (the Gumbel path). Returns one logit per sequence, or `outputs`
    logits (B, outputs) when `outputs` > 1 (one per style for task=transfer's D).
    """

    def __init__(
        self, vocab: int, embd: int, filters: int, dropout: float = 0.0, outputs: int = 1
    ) -> None:
        super().__init__()
        self.embed = TokenEmbedding(vocab, embd)
        self.convs = nn.ModuleList(nn.Conv1d(embd, filters, k, padding=k - 1) for k in (2, 3, 4, 5))
        width = 4 * filters
        self.highway = nn.Linear(width, 2 * width)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(width, outputs)

    def embed_tokens(self, x: Tensor) -> Tensor:
        """Embeddings (B, L, E) of ids or soft one-hot rows."""
        return self.embed(x)

    def forward(self, x: Tensor) -> Tensor:
        """Logits (B,), or (B, outputs)."""
        h = self.embed_tokens(x).transpose(1, 2)
        h = torch.cat([F.relu(c(h)).amax(2) for c in self.convs], 1)
        gate, value = self.highway(h).chunk(2, 1)
        h = torch.sigmoid(gate) * F.relu(value) + (1 - torch.sigmoid(gate)) * h
        out: Tensor = self.out(self.drop(h))
        return out.squeeze(1) if out.shape[1] == 1 else out


class TransformerDiscriminator(nn.Module):
    """Token-sequence classifier: a small transformer encoder over embeddings, mean-pooled;
    one logit per sequence, or (B, outputs)."""

    def __init__(
        self, vocab: int, embd: int, layers: int, length: int, dropout: float = 0.0,
        outputs: int = 1,
    ) -> None:  # fmt: skip
        super().__init__()
        self.embed = TokenEmbedding(vocab, embd)
        self.pos = nn.Parameter(torch.zeros(1, length, embd))
        heads = 4 if embd % 4 == 0 else 1
        layer = nn.TransformerEncoderLayer(embd, heads, 2 * embd, dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.out = nn.Linear(embd, outputs)

    def forward(self, x: Tensor) -> Tensor:
        """Logits (B,), or (B, outputs).

        An input that requires grad may have its gradient differentiated again (R1, R2, the
        gradient penalty take D's input gradient and train on its norm): attention then runs
        on the math kernel, the one with a double backward. The fused kernels (flash, memory
        efficient) have none, on CPU and CUDA, and `tricks=[r1]` stopped at the first D step
        with a traceback."""
        h = self.embed(x)
        if x.requires_grad and torch.is_grad_enabled():
            from torch.nn.attention import SDPBackend, sdpa_kernel

            with sdpa_kernel(SDPBackend.MATH):
                h = self.encoder(h + self.pos[:, : h.shape[1]])
        else:
            h = self.encoder(h + self.pos[:, : h.shape[1]])
        out: Tensor = self.out(h.mean(1))
        return out.squeeze(1) if out.shape[1] == 1 else out


def build_d(cfg: TextModel, vocab: int, length: int, outputs: int = 1) -> nn.Module:
    """The configured discriminator (`outputs` logits per sequence)."""
    if cfg.discriminator == "cnn":
        return CNNDiscriminator(vocab, cfg.d_embd, cfg.d_filters, cfg.dropout, outputs)
    return TransformerDiscriminator(vocab, cfg.d_embd, cfg.d_layers, length, cfg.dropout, outputs)
