#!/usr/bin/env python3
"""Baseline speed of Hugging Face transformers on CPU (float32 by default, batch 1), to
compare with hedge's own decoder on the same model folder and the same machine.

    .venv/bin/python scripts/bench_transformers_decode.py --model DIR \
        --prompt-tokens 128 --new-tokens 64 --threads 2 [--torch-dtype bfloat16]

--torch-dtype is the dtype transformers loads the weights in and computes in: float32 (the
default; a bf16 checkpoint is widened exactly, so the numbers are those of hedge with bf16
storage) or bfloat16 (weights and activations in bf16: other, less exact numbers).

DIR is a Hugging Face folder (config.json + safetensors; no tokenizer needed: the
prompt is random token ids from a fixed seed). Measures
  prefill: one forward over N prompt ids (building the KV cache), tokens/s = N / time;
  decode:  M greedy steps at batch 1, each one forward of one token with the KV cache
           (a manual loop: only the decode forwards and the argmax are timed, not the
           prefill), tokens/s = M / time.
One untimed warm-up round (prefill + decode) first; then --repeats timed rounds, the
median of each is reported. Prints one JSON line:
  {"impl":"transformers","dtype":..,"prefill_tok_s":..,"decode_tok_s":..,"torch":..,
   "transformers":..,"threads":..,"prompt_tokens":..,"new_tokens":..,"repeats":..,"attn_implementation":..,"model":..,
   "load_avg_1m":..}
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import statistics
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description="transformers CPU prefill/decode baseline")
    ap.add_argument("--model", required=True, help="Hugging Face model folder")
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="timed rounds; the median is reported")
    ap.add_argument("--attn", default="sdpa", choices=["sdpa", "eager"], help="attn_implementation")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--torch-dtype", default="float32", choices=["float32", "bfloat16", "float16"],
        help="dtype of the weights and of the computation",
    )
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    transformers.utils.logging.disable_progress_bar()
    model = AutoModelForCausalLM.from_pretrained(
        args.model, dtype=getattr(torch, args.torch_dtype), attn_implementation=args.attn
    ).eval()
    vocab = model.config.vocab_size
    g = torch.Generator().manual_seed(args.seed)
    prompt = torch.randint(0, vocab, (1, args.prompt_tokens), generator=g)
    # transformers >= 5.2x names the cache argument `cache`; older ones `past_key_values`.
    cache_kw = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"

    @torch.inference_mode()
    def one_round() -> tuple[float, float]:
        t0 = time.perf_counter()
        out = model(input_ids=prompt, use_cache=True, logits_to_keep=1)
        t1 = time.perf_counter()
        cache = out.past_key_values
        nxt = out.logits[:, -1].argmax(-1, keepdim=True)
        n = args.prompt_tokens
        t2 = time.perf_counter()
        for step in range(args.new_tokens):
            out = model(
                input_ids=nxt,
                position_ids=torch.tensor([[n + step]]),
                use_cache=True,
                **{cache_kw: cache},
            )
            cache = out.past_key_values
            nxt = out.logits[:, -1].argmax(-1, keepdim=True)
        t3 = time.perf_counter()
        return args.prompt_tokens / (t1 - t0), args.new_tokens / (t3 - t2)

    one_round()  # warm-up
    rounds = [one_round() for _ in range(args.repeats)]
    result = {
        "impl": "transformers",
        "dtype": args.torch_dtype,
        "prefill_tok_s": round(statistics.median(r[0] for r in rounds), 2),
        "decode_tok_s": round(statistics.median(r[1] for r in rounds), 2),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "threads": torch.get_num_threads(),
        "prompt_tokens": args.prompt_tokens,
        "new_tokens": args.new_tokens,
        "repeats": args.repeats,
        "attn_implementation": args.attn,
        "model": os.path.abspath(args.model),
        "load_avg_1m": round(os.getloadavg()[0], 2),  # other work on the machine skews the numbers
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
