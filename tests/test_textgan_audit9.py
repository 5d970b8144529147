"""textgan audit 9: a gradient penalty (R1, R2, WGAN-GP) differentiates D's input gradient
again, and the transformer discriminator's attention ran on a fused kernel that has no double
backward: `tricks=[r1] model.discriminator=transformer` stopped at the first D step with a
traceback. Its attention now runs on the math kernel when its input requires grad."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from ganhub_textgan.networks import TransformerDiscriminator

pytestmark = pytest.mark.usefixtures("one_thread")


def test_transformer_d_has_a_double_backward_for_r1() -> None:
    torch.manual_seed(0)
    vocab, length = 40, 8
    d = TransformerDiscriminator(vocab, 32, 1, length)
    x = F.one_hot(torch.randint(6, vocab, (4, length)), vocab).float().requires_grad_()
    (grad,) = torch.autograd.grad(d(x).sum(), x, create_graph=True)
    penalty = grad.square().sum() / len(x)  # R1's E||grad_x D(x)||^2
    penalty.backward()
    assert penalty.item() > 0
    grads = [p.grad for p in d.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_transformer_d_gives_the_same_logits_on_either_kernel() -> None:
    torch.manual_seed(0)
    vocab, length = 40, 8
    d = TransformerDiscriminator(vocab, 32, 1, length).eval()
    x = F.one_hot(torch.randint(6, vocab, (4, length)), vocab).float()
    plain = d(x)
    tracked = d(x.clone().requires_grad_())
    torch.testing.assert_close(tracked.detach(), plain, rtol=1e-5, atol=1e-5)


def test_batched_encode_keeps_each_rule_of_a_sentence() -> None:
    from ganhub_textgan.vocab import EOS, PAD, UNK, decode, encode, train_tokenizer

    texts = ["a b c d e f", "", "b <eos> a <pad> c", "<unk> a"]
    tok = train_tokenizer(texts, "word", 20)
    a, b = tok.token_to_id("a"), tok.token_to_id("b")
    ids = encode(tok, texts, 5)
    assert ids[0].tolist()[:4] == [a, b, tok.token_to_id("c"), tok.token_to_id("d")]
    assert ids[0, 4] == EOS  # truncated to length - 1 words, then <eos>
    assert ids[1].tolist() == [EOS, PAD, PAD, PAD, PAD]
    assert ids[2].tolist() == [b, UNK, a, UNK, EOS]  # a special token's text is <unk>
    assert ids[3].tolist() == [UNK, a, EOS, PAD, PAD]
    whole = [a, b, *ids[0, 2:4].tolist(), tok.token_to_id("e")]
    assert encode(tok, texts, 5, eos=False)[0].tolist() == whole
    assert encode(tok, [], 5).shape == (0, 5)
    assert decode(tok, ids) == ["a b c d", "", "b a", "a"]
