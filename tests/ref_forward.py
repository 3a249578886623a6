#!/usr/bin/python3
"""ref_forward.py — an independent NumPy reference forward pass for GGUF
decoders (llama, qwen2, qwen3) with F32/F16/Q8_0/Q4_0/Q4_K/Q6_K tensors
(dequantised here from GGML's block layouts) and linear / YaRN RoPE
scaling. It
parses the GGUF file itself.

As GGML does (and cairn's CPU backend, llm/qdot.c), a matrix product with
quantised weights first quantises its input vector to 8 bits per block of
32 values (Q8_0, Q4_0 weights) or 256 values (Q4_K, Q6_K): d = max|x|/127,
q = rint(x * (127/max|x|)) in float32 arithmetic (ties to even), and
multiplies the dequantised weights with d*q. F32/F16 weights take x as is.

The KV cache: as cairn's CPU backend stores it, K and V are rounded to
IEEE half (numpy float16, round to nearest even) when stored and used as
such, unless CAIRN_KV=f32 (the same variable cairn reads): then they stay
as computed. With CAIRN_KV=q8_0, K and V are stored as Q8_0 blocks of 32
per head (the 8-bit quantisation above, the scale rounded to half) and
each query head is quantised the same way before K.q, as cairn's kernels
do. Attention itself runs in float64 in every case.

usage: ref_forward.py FILE logits ID,ID,...   one line of logits per position
       ref_forward.py FILE greedy ID,ID,... N generated ids (stops after EOS)
"""
import os
import struct
import sys

import numpy as np


def read_gguf(path, types=None):
    """(metadata, tensors as float64 arrays); fills `types` (when given)
    with each tensor's GGML type."""
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
        if types is not None:
            types[name] = typ
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
        elif typ == 2:  # Q4_0: fp16 d + 16 bytes; low nibbles first half, high second, minus 8
            blk = np.frombuffer(buf, np.uint8, n // 32 * 18, p).reshape(-1, 18)
            d = blk[:, :2].copy().view(np.float16).astype(np.float32)
            qs = blk[:, 2:].astype(np.float32)
            lo, hi = np.fmod(qs, 16), np.floor(qs / 16)
            a = (d * (np.concatenate([lo, hi], axis=1) - 8)).reshape(-1)
        elif typ == 12:
            a = deq_q4_k(np.frombuffer(buf, np.uint8, n // 256 * 144, p).reshape(-1, 144))
        elif typ == 14:
            a = deq_q6_k(np.frombuffer(buf, np.uint8, n // 256 * 210, p).reshape(-1, 210))
        else:
            raise SystemExit("ref_forward: tensor type %d not handled" % typ)
        # GGUF ne[0] is the fastest dimension: numpy shape is reversed
        tensors[name] = a.astype(np.float64).reshape(list(reversed(ne)))
    return kv, tensors


def act_q8(x, bs):
    """x as the integer path sees it: per block of bs values, d*q with
    d = max|x|/127 and q = rint(x * (127/max|x|)), all in float32."""
    x32 = np.asarray(x, np.float32).reshape(-1, bs)
    amax = np.abs(x32).max(axis=1, keepdims=True)
    d = amax / np.float32(127)
    with np.errstate(divide="ignore"):
        iscale = np.where(amax > 0, np.float32(127) / amax, np.float32(0)).astype(np.float32)
    q = np.clip(np.rint(x32 * iscale), -127, 127)
    return (d.astype(np.float64) * q.astype(np.float64)).reshape(-1)


def kv_q8(x):
    """x as a Q8_0 KV cache holds it: act_q8's quants with the scale
    rounded to IEEE half (GGUF Q8_0 blocks; rows of a whole number of
    blocks per head)."""
    x32 = np.asarray(x, np.float32).reshape(-1, 32)
    amax = np.abs(x32).max(axis=1, keepdims=True)
    d = (amax / np.float32(127)).astype(np.float16).astype(np.float64)
    with np.errstate(divide="ignore"):
        iscale = np.where(amax > 0, np.float32(127) / amax, np.float32(0)).astype(np.float32)
    q = np.clip(np.rint(x32 * iscale), -127, 127)
    return (d * q.astype(np.float64)).reshape(np.shape(x))


ACT_BLOCK = {8: 32, 2: 32, 12: 256, 14: 256}  # Q8_0, Q4_0, Q4_K, Q6_K


def deq_q4_k(blk):
    """Q4_K: fp16 d, fp16 dmin, 12 bytes of 6-bit scales/mins, 128 bytes of
    nibbles; 8 sub-blocks of 32: x = d*sc*q - dmin*m. Chunk c of 32 bytes
    holds sub-block 2c in its low nibbles and 2c+1 in its high nibbles."""
    blk = blk.astype(np.int64)
    d = blk[:, 0:2].astype(np.uint8).copy().view(np.float16).astype(np.float64)
    dmin = blk[:, 2:4].astype(np.uint8).copy().view(np.float16).astype(np.float64)
    s = blk[:, 4:16]
    sc = np.zeros((len(blk), 8), np.int64)
    mn = np.zeros((len(blk), 8), np.int64)
    for j in range(4):
        sc[:, j] = s[:, j] & 63
        mn[:, j] = s[:, j + 4] & 63
        sc[:, j + 4] = (s[:, j + 8] & 15) | ((s[:, j] >> 6) << 4)
        mn[:, j + 4] = (s[:, j + 8] >> 4) | ((s[:, j + 4] >> 6) << 4)
    qs = blk[:, 16:]
    out = np.empty((len(blk), 256))
    for c in range(4):
        q = qs[:, 32 * c:32 * c + 32]
        for half, qq in ((0, q & 15), (1, q >> 4)):
            sb = 2 * c + half
            out[:, 32 * sb:32 * sb + 32] = d * sc[:, sb:sb + 1] * qq - dmin * mn[:, sb:sb + 1]
    return out.reshape(-1)


def deq_q6_k(blk):
    """Q6_K: ql[128] low 4 bits, qh[64] high 2 bits, int8 scales[16] (one per
    16 values), fp16 d; x = d*scale*(q - 32). In each half of 128 values,
    value l+32k (k=0..3) takes ql[l] or ql[l+32] (low/high nibble) and bits
    2k..2k+1 of qh[l]."""
    blk8 = blk
    blk = blk.astype(np.int64)
    d = blk8[:, 208:210].copy().view(np.float16).astype(np.float64)
    sc = blk8[:, 192:208].copy().view(np.int8).astype(np.float64)
    out = np.empty((len(blk), 256))
    for h in range(2):
        ql = blk[:, 64 * h:64 * h + 64]
        qh = blk[:, 128 + 32 * h:128 + 32 * h + 32]
        qv = [(ql[:, :32] & 15) | ((qh & 3) << 4),
              (ql[:, 32:] & 15) | (((qh >> 2) & 3) << 4),
              (ql[:, :32] >> 4) | (((qh >> 4) & 3) << 4),
              (ql[:, 32:] >> 4) | (((qh >> 6) & 3) << 4)]
        for k in range(4):
            for g in range(2):
                idx = 128 * h + 32 * k + 16 * g
                out[:, idx:idx + 16] = d * sc[:, idx // 16:idx // 16 + 1] * (qv[k][:, 16 * g:16 * g + 16] - 32)
    return out.reshape(-1)


def rmsnorm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def rope(x, pos, base, neox, freq, mscale):
    # x: [heads, d]; pair i rotates by pos * base^(-2i/d) * freq[i]
    d = x.shape[-1]
    th = pos * base ** (-np.arange(0, d, 2) / d) * freq
    c, s = np.cos(th) * mscale, np.sin(th) * mscale
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
        self.types = {}
        kv, self.t = read_gguf(path, self.types)
        a = self.arch = kv["general.architecture"]
        self.n_layer = kv[a + ".block_count"]
        self.n_head = kv[a + ".attention.head_count"]
        self.n_kv = kv.get(a + ".attention.head_count_kv", self.n_head)
        self.hd = kv.get(a + ".attention.key_length", kv[a + ".embedding_length"] // self.n_head)
        self.eps = kv.get(a + ".attention.layer_norm_rms_epsilon", 1e-5)
        self.base = kv.get(a + ".rope.freq_base", 10000.0)
        self.neox = a in ("qwen2", "qwen3")
        st = kv.get(a + ".rope.scaling.type", "none")
        d = self.hd
        # per pair i: angle = pos * base^(-2i/d) * freq[i]; cos/sin times mscale
        self.freq, self.mscale = np.ones(d // 2), 1.0
        if st == "linear":  # positions divided by the factor
            self.freq[:] = 1.0 / kv[a + ".rope.scaling.factor"]
        elif st == "yarn":
            # YaRN as GGML implements it (ggml_rope_yarn_corr_dims, rope_yarn):
            # beta_fast = 32, beta_slow = 1, ext_factor = 1
            f = kv[a + ".rope.scaling.factor"]
            orig = kv[a + ".rope.scaling.original_context_length"]
            corr = lambda n_rot: d * np.log(orig / (n_rot * 2 * np.pi)) / (2 * np.log(self.base))
            lo, hi = max(0.0, np.floor(corr(32))), min(d - 1.0, np.ceil(corr(1)))
            y = (np.arange(d // 2) - lo) / max(0.001, hi - lo)
            mix = 1 - np.clip(y, 0, 1)
            self.freq = (1 / f) * (1 - mix) + mix
            self.mscale = kv.get(a + ".rope.scaling.attn_factor", 1.0) * (1 + 0.1 * np.log(f))
        elif st != "none":
            raise SystemExit("ref_forward: rope scaling %s not handled" % st)
        self.eos = kv.get("tokenizer.ggml.eos_token_id", -1)
        self.cache = [([], []) for _ in range(self.n_layer)]
        kvt = os.environ.get("CAIRN_KV", "") or "f16"
        if kvt.lower() not in ("f16", "f32", "q8_0"):
            raise SystemExit("ref_forward: CAIRN_KV=%s is not f16, f32 or q8_0" % kvt)
        self.kv_f16 = kvt.lower() == "f16"
        self.kv_q8 = kvt.lower() == "q8_0"

    def mv(self, name, x):
        bs = ACT_BLOCK.get(self.types.get(name))
        return self.t[name] @ (act_q8(x, bs) if bs else x)

    def step(self, tok, pos):
        t = self.t
        mv = self.mv
        x = t["token_embd.weight"][tok].copy()
        for l in range(self.n_layer):
            p = "blk.%d." % l
            h = rmsnorm(x, t[p + "attn_norm.weight"], self.eps)
            q = mv(p + "attn_q.weight", h) + t.get(p + "attn_q.bias", 0)
            k = mv(p + "attn_k.weight", h) + t.get(p + "attn_k.bias", 0)
            v = mv(p + "attn_v.weight", h) + t.get(p + "attn_v.bias", 0)
            q = q.reshape(self.n_head, self.hd)
            k = k.reshape(self.n_kv, self.hd)
            v = v.reshape(self.n_kv, self.hd)
            if p + "attn_q_norm.weight" in t:
                q = rmsnorm(q, t[p + "attn_q_norm.weight"], self.eps)
                k = rmsnorm(k, t[p + "attn_k_norm.weight"], self.eps)
            q = rope(q, pos, self.base, self.neox, self.freq, self.mscale)
            k = rope(k, pos, self.base, self.neox, self.freq, self.mscale)
            if self.kv_f16:  # the cache holds halves: K/V rounded once, when stored
                k = k.astype(np.float16).astype(np.float64)
                v = v.astype(np.float16).astype(np.float64)
            if self.kv_q8:  # Q8_0 blocks of 32 per head, the scale rounded to half
                k = kv_q8(k)
                v = kv_q8(v)
            ks, vs = self.cache[l]
            ks.append(k)
            vs.append(v)
            K, V = np.stack(ks), np.stack(vs)  # [T, n_kv, hd]
            g = self.n_head // self.n_kv
            out = np.empty((self.n_head, self.hd))
            for hh in range(self.n_head):
                # with a Q8_0 cache the query is quantised as the kernels do (per block of 32)
                qh = act_q8(q[hh], 32) if self.kv_q8 else q[hh]
                sc = K[:, hh // g, :] @ qh / np.sqrt(self.hd)
                w = np.exp(sc - sc.max())
                out[hh] = (w / w.sum()) @ V[:, hh // g, :]
            x = x + mv(p + "attn_output.weight", out.reshape(-1))
            h = rmsnorm(x, t[p + "ffn_norm.weight"], self.eps)
            gt = mv(p + "ffn_gate.weight", h)
            up = mv(p + "ffn_up.weight", h)
            x = x + mv(p + "ffn_down.weight", gt / (1 + np.exp(-gt)) * up)
        x = rmsnorm(x, t["output_norm.weight"], self.eps)
        return mv("output.weight" if "output.weight" in t else "token_embd.weight", x)


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
