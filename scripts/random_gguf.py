"""A llama-architecture GGUF with random weights, for speed benchmarks and
architecture tests (never for answers): the shapes of a real model, the
tokenizer and chat template of a real GGUF (so prompts tokenize as usual),
weights drawn at random, then quantised by llama.cpp's own quantiser.

Usage (in a virtualenv with `gguf`, `numpy` and `llama-cpp-python`):
  python scripts/random_gguf.py --like models/SmolLM2-135M-Instruct.Q4_1.gguf \
      --out /tmp/llama-1b-random.Q4_K_M.gguf [--hidden 2048 --layers 16 --heads 32 \
      --kv-heads 8 --ffn 8192 --type Q4_K_M]

The file is large (≈ 0.8 GB for 1B parameters in Q4_K_M): made when needed,
never checked in.
"""

import argparse
import os
import sys

import numpy as np
import gguf

FTYPES = {"Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q4_K_M": 15, "Q5_K_M": 17, "Q6_K": 18}


def tokenizer_fields(path):
    """The tokenizer and chat template fields of an existing GGUF."""
    r = gguf.GGUFReader(path)
    out = {}
    for name, field in r.fields.items():
        if name.startswith("tokenizer."):
            out[name] = field
    return out


def copy_field(w, name, field):
    kind = field.types[0]
    if kind == gguf.GGUFValueType.ARRAY:
        sub = field.types[1]
        if sub == gguf.GGUFValueType.STRING:
            vals = [bytes(field.parts[i]).decode("utf-8", "replace") for i in field.data]
        else:
            vals = [field.parts[i].tolist()[0] for i in field.data]
        w.add_array(name, vals)
    elif kind == gguf.GGUFValueType.STRING:
        w.add_string(name, bytes(field.parts[field.data[0]]).decode("utf-8", "replace"))
    elif kind == gguf.GGUFValueType.UINT32:
        w.add_uint32(name, int(field.parts[field.data[0]][0]))
    elif kind == gguf.GGUFValueType.INT32:
        w.add_int32(name, int(field.parts[field.data[0]][0]))
    elif kind == gguf.GGUFValueType.BOOL:
        w.add_bool(name, bool(field.parts[field.data[0]][0]))
    elif kind == gguf.GGUFValueType.FLOAT32:
        w.add_float32(name, float(field.parts[field.data[0]][0]))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--like", required=True, help="a GGUF whose tokenizer and template are used")
    p.add_argument("--out", required=True)
    p.add_argument("--hidden", type=int, default=2048)
    p.add_argument("--layers", type=int, default=16)
    p.add_argument("--heads", type=int, default=32)
    p.add_argument("--kv-heads", type=int, default=8)
    p.add_argument("--ffn", type=int, default=8192)
    p.add_argument("--context", type=int, default=4096)
    p.add_argument("--type", default="Q4_K_M", choices=sorted(FTYPES))
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()

    fields = tokenizer_fields(a.like)
    vocab = len(fields["tokenizer.ggml.tokens"].data)
    head_dim = a.hidden // a.heads
    rng = np.random.default_rng(a.seed)
    f16 = a.out + ".f16.gguf"
    w = gguf.GGUFWriter(f16, "llama")
    w.add_name(f"random llama {a.layers}x{a.hidden}")
    w.add_context_length(a.context)
    w.add_embedding_length(a.hidden)
    w.add_block_count(a.layers)
    w.add_feed_forward_length(a.ffn)
    w.add_head_count(a.heads)
    w.add_head_count_kv(a.kv_heads)
    w.add_rope_dimension_count(head_dim)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(1)  # F16 before quantisation
    for name, field in fields.items():
        copy_field(w, name, field)

    def rand(*shape):
        return (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(np.float16)

    ones = lambda n: np.ones(n, dtype=np.float32)
    w.add_tensor("token_embd.weight", rand(vocab, a.hidden))
    w.add_tensor("output_norm.weight", ones(a.hidden))
    kv = a.kv_heads * head_dim
    for i in range(a.layers):
        b = f"blk.{i}."
        w.add_tensor(b + "attn_norm.weight", ones(a.hidden))
        w.add_tensor(b + "attn_q.weight", rand(a.hidden, a.hidden))
        w.add_tensor(b + "attn_k.weight", rand(kv, a.hidden))
        w.add_tensor(b + "attn_v.weight", rand(kv, a.hidden))
        w.add_tensor(b + "attn_output.weight", rand(a.hidden, a.hidden))
        w.add_tensor(b + "ffn_norm.weight", ones(a.hidden))
        w.add_tensor(b + "ffn_gate.weight", rand(a.ffn, a.hidden))
        w.add_tensor(b + "ffn_up.weight", rand(a.ffn, a.hidden))
        w.add_tensor(b + "ffn_down.weight", rand(a.hidden, a.ffn))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = FTYPES[a.type]
    params.nthread = os.cpu_count() or 2
    rc = llama_cpp.llama_model_quantize(f16.encode(), a.out.encode(), params)
    os.remove(f16)
    if rc != 0:
        sys.exit(f"llama.cpp's quantiser failed ({rc})")
    print(a.out)


if __name__ == "__main__":
    main()
