"""The text stream as the official code builds it: exact strings, image features at the <image>
slots, the crop, the mask handed to the transformer, CLIP on the bare action."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from anix_core.model.pipeline import NEGATIVE_PROMPT
from anix_core.model.text import (LLAVA_TEMPLATE, PERSON, bare_action, dit_text_mask, image_features, llava_text,
                                  merge_image_features, trim_uncond_mask)
from anix_core.model.tiny import tiny_pipeline

VIEWS = {n: np.full((16, 8, 4), 40 * i, np.uint8) for i, n in enumerate(("front", "left", "back", "right"))}


@pytest.fixture(scope="module")
def official(fixtures_dir):
    return json.loads((fixtures_dir / "model" / "official_prompt.json").read_text())


@pytest.fixture(scope="module")
def pipe():
    return tiny_pipeline(seed=0)


def test_llava_and_clip_strings_equal_official(official):
    from anix_core.conditioning import build_prompt

    action = official["instruction"]
    assert LLAVA_TEMPLATE == official["llava"]["template"]
    assert llava_text(action) == official["llava"]["full_text_positive"]
    assert llava_text(NEGATIVE_PROMPT, PERSON) == official["llava"]["full_text_negative"]
    # our conditioning prompt carries view lines of its own: the encoders get its bare action
    assert bare_action(build_prompt("running backward")) == official["clip"]["text_positive"]
    assert NEGATIVE_PROMPT == official["clip"]["text_negative"]


def test_the_pipeline_hands_the_official_strings_to_both_tokenizers(pipe, official, monkeypatch):
    from anix_core.conditioning import build_prompt

    seen = {"llava": [], "clip": []}
    for name, key in (("tokenizer", "llava"), ("tokenizer_2", "clip")):
        tok = getattr(pipe, name)
        call = type(tok).__call__
        monkeypatch.setattr(type(tok), "__call__",
                            lambda self, text, *a, _k=key, _t=tok, _c=call, **kw:
                            (seen[_k].append(text) if self is _t else None) or _c(self, text, *a, **kw))
    pipe.encode_prompt(build_prompt("running backward"), "cpu", torch.float32, 64, views=VIEWS)
    pipe.encode_prompt(NEGATIVE_PROMPT, "cpu", torch.float32, 64, negative=True)
    assert [official["llava"]["full_text_positive"]] in seen["llava"]
    assert [official["llava"]["full_text_negative"]] in seen["llava"]
    assert seen["clip"] == [[official["clip"]["text_positive"]], [official["clip"]["text_negative"]]]


def test_image_features_fill_the_image_slots_like_llava_itself(pipe):
    """Our merge (with LLaVA's 4.39 padding: zeroed, position 1) gives the same hidden states at
    every real token as transformers' own LLaVA forward on image-token-expanded ids."""
    from anix_core.model.inputs import llava_views_tensor

    te, tok = pipe.text_encoder, pipe.tokenizer
    text = llava_text("a character walks forward .")
    ids = tok([text], max_length=120, padding="max_length", truncation=True, return_tensors="pt")
    pixels = llava_views_tensor(VIEWS)
    with torch.no_grad():
        feats = image_features(te, pixels)
        lm = te.get_decoder()
        image_id = tok.convert_tokens_to_ids("<image>")
        embeds, mask, pos = merge_image_features(ids.input_ids, ids.attention_mask,
                                                 lm.get_input_embeddings()(ids.input_ids), feats, image_id)
        ours = lm(inputs_embeds=embeds, attention_mask=mask, position_ids=pos, output_hidden_states=True).hidden_states[-3]
        n = feats.shape[1]
        expanded = torch.cat([torch.full((n,), image_id) if t == image_id else t[None] for t in ids.input_ids[0]])[None]
        exp_mask = (expanded != 0).long()
        theirs = te(input_ids=expanded, pixel_values=pixels, attention_mask=exp_mask,
                    output_hidden_states=True).hidden_states[-3]
    assert embeds.shape[1] == expanded.shape[1] == 120 + 4 * (n - 1)
    slots = (expanded[0] == image_id).nonzero().flatten()
    torch.testing.assert_close(embeds[0, slots], feats.reshape(-1, feats.shape[-1]))  # front, left, back, right
    real = mask[0].bool()
    torch.testing.assert_close(ours[0, real], theirs[0, real], rtol=1e-4, atol=1e-5)
    assert torch.all(embeds[0, ~real] == 0)


def test_the_transformer_mask_follows_the_official_tokenizer_mask_rule(official):
    """351 tokenizer positions (+ 4 x 575 image positions) cropped at 95: ones at [0, 42) and
    [256, 2556) for the positive prompt; the negative's 2384 ones trimmed to 1809 leading ones."""
    counts, layout = official["llava"]["token_counts"], official["llava"]["attention_mask_quirk"]

    def tokenizer_mask(n):
        m = torch.zeros(1, 351, dtype=torch.long)
        m[:, :n] = 1
        return m

    pos = dit_text_mask(tokenizer_mask(counts["positive_incl_bos"]), 4, 576, 95)
    assert pos.shape == (1, 2556)
    ones = pos[0].nonzero().flatten()
    runs = [[int(ones[0]), int(ones[0])]]
    for i in ones[1:].tolist():
        if i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    assert [[a, b + 1] for a, b in runs] == layout["positive_returned_mask_ones"]
    assert int(pos.sum()) == layout["positive_mask_sum"]
    neg = trim_uncond_mask(dit_text_mask(tokenizer_mask(counts["negative_incl_bos"]), 4, 576, 95))
    assert int(neg.sum()) == layout["negative_mask_sum"] and torch.all(neg[0, :1809] == 1)


def test_uncond_branch_reads_white_images_and_person(pipe):
    """The negative branch's LLaVA images are white whatever the views; the conditional one sees them."""
    a = pipe.encode_prompt(NEGATIVE_PROMPT, "cpu", torch.float32, 64, negative=True)
    b = pipe.encode_prompt(NEGATIVE_PROMPT, "cpu", torch.float32, 64, views=VIEWS, negative=True)
    torch.testing.assert_close(a[0], b[0])
    c = pipe.encode_prompt("a character walks forward .", "cpu", torch.float32, 64, views=VIEWS)
    d = pipe.encode_prompt("a character walks forward .", "cpu", torch.float32, 64,
                           views={k: 255 - v for k, v in VIEWS.items()})
    assert not torch.allclose(c[0], d[0])  # the views reach the text stream
    torch.testing.assert_close(c[2], d[2])  # CLIP reads the action only
