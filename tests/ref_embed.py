#!/usr/bin/python3
"""ref_embed.py — an independent NumPy reference for GGUF embedding models:
a BERT encoder (llama.cpp's "bert" tensors: absolute positions, token type
0, post-LayerNorm layers, exact erf GELU) and decoders (llama, qwen2, qwen3,
through ref_forward.py's decoder with the output head replaced by the
identity, so each step returns the final normed hidden state). Pools (mean,
cls, last) and L2-normalises, in float64. Parses the GGUF itself
(ref_forward.read_gguf).

usage: ref_embed.py FILE POOLING IDS [IDS...]
  POOLING: mean | cls | last | meta (the file's <arch>.pooling_type)
  IDS: comma-separated token ids of one text (with [CLS]/[SEP] as the model
  adds them). Prints one vector per text, one line each.
"""
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ref_forward import Model, read_gguf  # noqa: E402

POOL = {1: "mean", 2: "cls", 3: "last"}
erf = np.vectorize(math.erf)


def layernorm(x, w, b, eps):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def bert_states(kv, t, ids):
    """Final hidden states [n, E] of one sequence."""
    e = kv["bert.embedding_length"]
    nh = kv["bert.attention.head_count"]
    eps = kv.get("bert.attention.layer_norm_epsilon", 1e-12)
    hd = e // nh
    n = len(ids)
    x = t["token_embd.weight"][ids] + t["position_embd.weight"][:n]
    if "token_types.weight" in t:
        x = x + t["token_types.weight"][0]
    x = layernorm(x, t["token_embd_norm.weight"], t["token_embd_norm.bias"], eps)
    for l in range(kv["bert.block_count"]):
        p = "blk.%d." % l
        q = x @ t[p + "attn_q.weight"].T + t[p + "attn_q.bias"]
        k = x @ t[p + "attn_k.weight"].T + t[p + "attn_k.bias"]
        v = x @ t[p + "attn_v.weight"].T + t[p + "attn_v.bias"]
        out = np.empty_like(x)
        for h in range(nh):
            s = slice(h * hd, (h + 1) * hd)
            sc = q[:, s] @ k[:, s].T / np.sqrt(hd)
            w = np.exp(sc - sc.max(axis=1, keepdims=True))
            out[:, s] = (w / w.sum(axis=1, keepdims=True)) @ v[:, s]
        a = out @ t[p + "attn_output.weight"].T + t[p + "attn_output.bias"]
        x = layernorm(x + a, t[p + "attn_output_norm.weight"], t[p + "attn_output_norm.bias"], eps)
        u = x @ t[p + "ffn_up.weight"].T + t[p + "ffn_up.bias"]
        u = 0.5 * u * (1.0 + erf(u / np.sqrt(2.0)))
        d = u @ t[p + "ffn_down.weight"].T + t[p + "ffn_down.bias"]
        x = layernorm(x + d, t[p + "layer_output_norm.weight"], t[p + "layer_output_norm.bias"], eps)
    return x


def decoder_states(path, ids):
    m = Model(path)
    e = m.t["token_embd.weight"].shape[1]
    m.t["output.weight"] = np.eye(e)  # step() then returns the normed hidden state
    m.types["output.weight"] = 0  # F32: no 8-bit input quantisation for the identity
    return np.stack([m.step(tok, pos) for pos, tok in enumerate(ids)])


def main():
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    path, pooling = sys.argv[1], sys.argv[2]
    kv, t = read_gguf(path)
    arch = kv["general.architecture"]
    if pooling == "meta":
        pooling = POOL[kv.get(arch + ".pooling_type", 2 if arch == "bert" else 0)]
    for arg in sys.argv[3:]:
        ids = [int(s) for s in arg.split(",")]
        x = bert_states(kv, t, ids) if arch == "bert" else decoder_states(path, ids)
        v = {"mean": lambda: x.mean(axis=0), "cls": lambda: x[0], "last": lambda: x[-1]}[pooling]()
        v = v / np.linalg.norm(v)
        print(" ".join("%.9g" % f for f in v))


if __name__ == "__main__":
    main()
