#!/usr/bin/env python3
"""make_seeds.py — writes the small GGUF seed files of tests/fuzz/corpus/gguf/
(run once by hand; the outputs are committed). Each is a valid GGUF v3:
metadata of every value type, a few tensors, and a tiny tokenizer of each
kind (byte-level BPE, SentencePiece, WordPiece)."""
import os, struct

def s(x):
    b = x.encode()
    return struct.pack('<Q', len(b)) + b

def kv(key, t, val):
    out = s(key) + struct.pack('<I', t)
    return out + val

def arr(t, items):
    body = struct.pack('<IQ', t, len(items))
    for it in items:
        if t == 8: body += s(it)
        elif t == 5: body += struct.pack('<i', it)
        elif t == 6: body += struct.pack('<f', it)
        else: raise ValueError(t)
    return body

def gguf(kvs, tensors):
    """tensors: list of (name, dims, type, bytes)"""
    head = b'GGUF' + struct.pack('<IQQ', 3, len(tensors), len(kvs)) + b''.join(kvs)
    data = b''
    infos = b''
    for name, dims, typ, raw in tensors:
        while len(data) % 32: data += b'\0'
        infos += s(name) + struct.pack('<I', len(dims)) + b''.join(struct.pack('<Q', d) for d in dims)
        infos += struct.pack('<IQ', typ, len(data))
        data += raw
    out = head + infos
    while len(out) % 32: out += b'\0'
    return out + data

def bytes_to_unicode():
    bs = list(range(ord('!'), ord('~') + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b); cs.append(256 + n); n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus', 'gguf')
os.makedirs(here, exist_ok=True)
f32 = struct.pack('<8f', *[0.5 * i for i in range(8)])

# every metadata type, two tensors
kvs = [kv('general.architecture', 8, s('llama')), kv('general.alignment', 4, struct.pack('<I', 32)),
       kv('a.u8', 0, b'\x07'), kv('a.i8', 1, b'\xfe'), kv('a.u16', 2, struct.pack('<H', 9)),
       kv('a.i16', 3, struct.pack('<h', -9)), kv('a.i32', 5, struct.pack('<i', -5)),
       kv('a.f32', 6, struct.pack('<f', 1.5)), kv('a.bool', 7, b'\x01'),
       kv('a.u64', 10, struct.pack('<Q', 1 << 40)), kv('a.i64', 11, struct.pack('<q', -1)),
       kv('a.f64', 12, struct.pack('<d', 2.5)), kv('a.arr', 9, arr(8, ['x', 'yz'])),
       kv('a.nested', 9, struct.pack('<IQ', 9, 1) + arr(5, [1, 2, 3]))]
open(os.path.join(here, 'types.gguf'), 'wb').write(
    gguf(kvs, [('w', [4, 2], 0, f32), ('b', [8], 0, f32)]))

# byte-level BPE
b2u = bytes_to_unicode()
toks = [b2u[b] for b in range(256)] + ['Ġt', 'he', 'Ġthe', '<|endoftext|>']
types = [1] * 259 + [3]
kvs = [kv('general.architecture', 8, s('llama')), kv('tokenizer.ggml.model', 8, s('gpt2')),
       kv('tokenizer.ggml.pre', 8, s('qwen2')), kv('tokenizer.ggml.tokens', 9, arr(8, toks)),
       kv('tokenizer.ggml.token_type', 9, arr(5, types)),
       kv('tokenizer.ggml.merges', 9, arr(8, ['Ġ t', 'h e', 'Ġt he'])),
       kv('tokenizer.ggml.eos_token_id', 4, struct.pack('<I', 259))]
open(os.path.join(here, 'bpe.gguf'), 'wb').write(gguf(kvs, []))

# SentencePiece
toks = ['<unk>', '<s>', '</s>'] + ['<0x%02X>' % b for b in range(256)] + ['▁', '▁t', 'he', '▁the', 'a', 'e', 'h', 't']
scores = [0.0] * len(toks)
types = [2, 3, 3] + [6] * 256 + [1] * 8
kvs = [kv('tokenizer.ggml.model', 8, s('llama')), kv('tokenizer.ggml.tokens', 9, arr(8, toks)),
       kv('tokenizer.ggml.scores', 9, arr(6, [float(-i) for i in range(len(toks))])),
       kv('tokenizer.ggml.token_type', 9, arr(5, types)),
       kv('tokenizer.ggml.bos_token_id', 4, struct.pack('<I', 1)),
       kv('tokenizer.ggml.eos_token_id', 4, struct.pack('<I', 2))]
open(os.path.join(here, 'spm.gguf'), 'wb').write(gguf(kvs, []))

# WordPiece
toks = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', 'the', 'a', 'b', 'c', '##s', '##ing', 'cat', ',', '.']
kvs = [kv('general.architecture', 8, s('bert')), kv('tokenizer.ggml.model', 8, s('bert')),
       kv('tokenizer.ggml.tokens', 9, arr(8, toks)),
       kv('tokenizer.ggml.token_type', 9, arr(5, [3, 2, 3, 3] + [1] * 9)),
       kv('tokenizer.ggml.unknown_token_id', 4, struct.pack('<I', 1)),
       kv('tokenizer.ggml.cls_token_id', 4, struct.pack('<I', 2)),
       kv('tokenizer.ggml.seperator_token_id', 4, struct.pack('<I', 3))]
open(os.path.join(here, 'wpm.gguf'), 'wb').write(gguf(kvs, []))
