"""Why the batch engine is laid out as it is: logits of a sequence decoded alone vs beside others.

Run: ``python -m benchmarks.local_parallel_probe [unified|nonunified]``. Prints the largest logit
difference (a) between a prompt evaluated whole and the same prompt with its last token evaluated
alone, (b) between prompts evaluated together and alone, (c) between generation steps of four
sequences decoded together and each alone (teacher-forced with the alone run's tokens).
Measured (llama-cpp-python 0.3.36, SmolLM2-135M Q4_1, 2 cores): (a) 0.484 either way
with
``kv_unified=False`` (b) and (c) are 0.0 throughout
with a unified cache (c) is 0.33-1.2 from the
second step on (one sequence's prompt already 0.91).
"""
import sys

import llama_cpp
import numpy as np
from llama_cpp import Llama

from workbench.providers._local import smollm2_path

llama = Llama(model_path=str(smollm2_path()), n_ctx=4096, n_threads=1, verbose=False)
model = llama._model.model
NV = llama.n_vocab()

def make_ctx(n_seq, unified, n_ctx_seq=1024, fa=0):
    p = llama_cpp.llama_context_default_params()
    p.n_ctx = n_ctx_seq * n_seq
    p.n_batch = 512
    p.n_ubatch = 512
    p.n_seq_max = n_seq
    p.n_threads = 1
    p.n_threads_batch = 2
    p.flash_attn_type = fa
    p.kv_unified = unified
    p.no_perf = True
    return llama_cpp.llama_init_from_model(model, p)

batch = llama_cpp.llama_batch_init(512, 0, 1)
def decode(ctx, items):
    """items: list of (token, pos, seq, logits) -> list of logits arrays for those with logits"""
    batch.n_tokens = len(items)
    for i, (t, pos, s, lg) in enumerate(items):
        batch.token[i] = t
        batch.pos[i] = pos
        batch.seq_id[i][0] = s
        batch.n_seq_id[i] = 1
        batch.logits[i] = lg
    rc = llama_cpp.llama_decode(ctx, batch)
    assert rc == 0, rc
    out = []
    for i, (_t, _pos, _s, lg) in enumerate(items):
        if lg:
            p = llama_cpp.llama_get_logits_ith(ctx, i)
            out.append(np.ctypeslib.as_array(p, shape=(NV,)).copy())
    return out

def prompt_tokens(text):
    chat = f"<|im_start|>user\n{text}<|im_end|>\n<|im_start|>assistant\n"
    return llama.tokenize(chat.encode(), add_bos=False, special=True)

TEXTS = ["Explain why the sky is blue.", "Write a poem about a cat.", "List three fruits.",
         "What is 2+2? Explain in detail please now."]
prompts = [prompt_tokens(t) for t in TEXTS]
mode = sys.argv[1] if len(sys.argv) > 1 else "nonunified"
unified = mode == "unified"
fa = int(sys.argv[2]) if len(sys.argv) > 2 else 0
ctx1 = make_ctx(1, True, 4096, fa)
mem1 = llama_cpp.llama_get_memory(ctx1)

def alone(tokens, ctx=ctx1, mem=mem1):
    llama_cpp.llama_memory_clear(mem, True)
    return decode(ctx, [(t, i, 0, i == len(tokens) - 1) for i, t in enumerate(tokens)])[0]

P = prompts[0]
L1 = alone(P)
# split: all but last, then last
llama_cpp.llama_memory_clear(mem1, True)
decode(ctx1, [(t, i, 0, False) for i, t in enumerate(P[:-1])])
L2 = decode(ctx1, [(P[-1], len(P) - 1, 0, True)])[0]
print("whole vs last-token-alone: max abs diff", np.abs(L1 - L2).max(), "identical", np.array_equal(L1, L2))

# greedy continuation alone (10 steps), recording logits
def gen_alone(tokens, steps):
    llama_cpp.llama_memory_clear(mem1, True)
    L = decode(ctx1, [(t, i, 0, i == len(tokens) - 1) for i, t in enumerate(tokens)])[0]
    logs = [L]
    toks = []
    pos = len(tokens)
    for _ in range(steps):
        t = int(np.argmax(L))
        toks.append(t)
        L = decode(ctx1, [(t, pos, 0, True)])[0]
        pos += 1
        logs.append(L)
    return toks, logs

K = len(prompts)
ctxK = make_ctx(K, unified, 1024, fa)
memK = llama_cpp.llama_get_memory(ctxK)
# all prompts in one decode
items = []
for s, P in enumerate(prompts):
    items += [(t, i, s, i == len(P) - 1) for i, t in enumerate(P)]
LK = decode(ctxK, items)
alone_runs = [gen_alone(P, 12) for P in prompts]
for s in range(K):
    first = alone_runs[s][1][0]
    print(f"seq {s} prompt logits batched vs alone identical:", np.array_equal(LK[s], first),
          np.abs(LK[s] - first).max())
# generation: feed alone-run tokens (teacher forcing) so we compare logits step by step
pos = [len(P) for P in prompts]
diffs = [[] for _ in range(K)]
for step in range(12):
    items = [(alone_runs[s][0][step], pos[s], s, True) for s in range(K)]
    Ls = decode(ctxK, items)
    for s in range(K):
        diffs[s].append(float(np.abs(Ls[s] - alone_runs[s][1][step + 1]).max()))
        pos[s] += 1
for s in range(K):
    print("seq", s, "gen step max diffs", [f"{d:.1e}" for d in diffs[s]])
