#!/usr/bin/python3
"""ref_forward.py — an independent NumPy reference forward pass for GGUF
decoders (llama, qwen2, qwen3) with F32/F16/Q8_0 tensors. It parses the
GGUF file itself.

usage: ref_forward.py FILE logits ID,ID,...   one line of logits per position
       ref_forward.py FILE greedy ID,ID,... N generated ids (stops after EOS)
"""
import struct
import sys

import numpy as np


def read_gguf(path):
    buf = open(path, "rb").read()
    off = 0

    def take(fmt):
        nonlocal off
        v = struct.unpack_from("<" + fmt, buf, off)
        off += struct.calcsize("<" + fmt)
        return v[0]

    def string():
        nonlocal off
        n = take("Q")
        s = buf[off:off + n].decode("utf-8")
        off += n
        return s

    scalars = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}

    def value(t):
        if t == 8:
            return string()
        if t == 9:
            et = take("I")
            return [value(et) for _ in range(take("Q"))]
        return take(scalars[t])

    assert buf[:4] == b"GGUF", "not a GGUF file"
    off = 4
    version = take("I")
    assert version in (2, 3), version
    n_t, n_kv = take("Q"), take("Q")
    kv = {}
    for _ in range(n_kv):
        k = string()
        kv[k] = value(take("I"))
    infos = []
    for _ in range(n_t):
        name = string()
        nd = take("I")
        ne = [take("Q") for _ in range(nd)]
        infos.append((name, ne, take("I"), take("Q")))
    align = kv.get("general.alignment", 32)
    data = (off + align - 1) // align * align
    tensors = {}
    for name, ne, typ, o in infos:
        n = int(np.prod(ne))
        p = data + o
        if typ == 0:
            a = np.frombuffer(buf, np.float32, n, p)
        elif typ == 1:
            a = np.frombuffer(buf, np.float16, n, p).astype(np.float32)
        elif typ == 8:  # Q8_0: fp16 scale + 32 int8 per block
            blk = np.frombuffer(buf, np.uint8, n // 32 * 34, p).reshape(-1, 34)
            d = blk[:, :2].copy().view(np.float16).astype(np.float32)
            q = blk[:, 2:].copy().view(np.int8).astype(np.float32)
            a = (d * q).reshape(-1)
        else:
            raise SystemExit("ref_forward: tensor type %d not handled" % typ)
        # GGUF ne[0] is the fastest dimension: numpy shape is reversed
        tensors[name] = a.astype(np.float64).reshape(list(reversed(ne)))
    return kv, tensors


def rmsnorm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def rope(x, pos, base, neox):
    # x: [heads, d]; pair i rotates by pos * base^(-2i/d)
    d = x.shape[-1]
    th = pos * base ** (-np.arange(0, d, 2) / d)
    c, s = np.cos(th), np.sin(th)
    if neox:
        a, b = x[:, :d // 2], x[:, d // 2:]
        return np.concatenate([a * c - b * s, a * s + b * c], axis=-1)
    a, b = x[:, 0::2], x[:, 1::2]
    out = np.empty_like(x)
    out[:, 0::2] = a * c - b * s
    out[:, 1::2] = a * s + b * c
    return out


class Model:
    def __init__(self, path):
        kv, self.t = read_gguf(path)
        a = self.arch = kv["general.architecture"]
        self.n_layer = kv[a + ".block_count"]
        self.n_head = kv[a + ".attention.head_count"]
        self.n_kv = kv.get(a + ".attention.head_count_kv", self.n_head)
        self.hd = kv.get(a + ".attention.key_length", kv[a + ".embedding_length"] // self.n_head)
        self.eps = kv.get(a + ".attention.layer_norm_rms_epsilon", 1e-5)
        self.base = kv.get(a + ".rope.freq_base", 10000.0)
        self.neox = a in ("qwen2", "qwen3")
        self.eos = kv.get("tokenizer.ggml.eos_token_id", -1)
        self.cache = [([], []) for _ in range(self.n_layer)]

    def step(self, tok, pos):
        t = self.t
        x = t["token_embd.weight"][tok].copy()
        for l in range(self.n_layer):
            p = "blk.%d." % l
            h = rmsnorm(x, t[p + "attn_norm.weight"], self.eps)
            q = t[p + "attn_q.weight"] @ h + t.get(p + "attn_q.bias", 0)
            k = t[p + "attn_k.weight"] @ h + t.get(p + "attn_k.bias", 0)
            v = t[p + "attn_v.weight"] @ h + t.get(p + "attn_v.bias", 0)
            q = q.reshape(self.n_head, self.hd)
            k = k.reshape(self.n_kv, self.hd)
            v = v.reshape(self.n_kv, self.hd)
            if p + "attn_q_norm.weight" in t:
                q = rmsnorm(q, t[p + "attn_q_norm.weight"], self.eps)
                k = rmsnorm(k, t[p + "attn_k_norm.weight"], self.eps)
            q = rope(q, pos, self.base, self.neox)
            k = rope(k, pos, self.base, self.neox)
            ks, vs = self.cache[l]
            ks.append(k)
            vs.append(v)
            K, V = np.stack(ks), np.stack(vs)  # [T, n_kv, hd]
            g = self.n_head // self.n_kv
            out = np.empty((self.n_head, self.hd))
            for hh in range(self.n_head):
                sc = K[:, hh // g, :] @ q[hh] / np.sqrt(self.hd)
                w = np.exp(sc - sc.max())
                out[hh] = (w / w.sum()) @ V[:, hh // g, :]
            x = x + t[p + "attn_output.weight"] @ out.reshape(-1)
            h = rmsnorm(x, t[p + "ffn_norm.weight"], self.eps)
            gt = t[p + "ffn_gate.weight"] @ h
            up = t[p + "ffn_up.weight"] @ h
            x = x + t[p + "ffn_down.weight"] @ (gt / (1 + np.exp(-gt)) * up)
        x = rmsnorm(x, t["output_norm.weight"], self.eps)
        return t.get("output.weight", t["token_embd.weight"]) @ x


def main():
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    m = Model(sys.argv[1])
    ids = [int(s) for s in sys.argv[3].split(",")]
    if sys.argv[2] == "logits":
        for pos, tok in enumerate(ids):
            print(" ".join("%.9g" % v for v in m.step(tok, pos)))
        return
    n = int(sys.argv[4])
    out = []
    for pos, tok in enumerate(ids):
        lg = m.step(tok, pos)
    while len(out) < n:
        nxt = int(np.argmax(lg))
        out.append(nxt)
        if nxt == m.eos or len(out) == n:
            break
        lg = m.step(nxt, len(ids) + len(out) - 1)
    print(",".join(str(i) for i in out))


if __name__ == "__main__":
    main()
