#!/usr/bin/env python3
"""Capture PyTorch profiler Chrome traces of model-shaped workloads for `simgpu import`.

Runs on a machine with one NVIDIA GPU (H100/H200) and torch installed; needs no
network: every model is built by hand from torch.nn.functional ops with random
bf16 weights, so nothing is downloaded.

Usage (from the repository root, on the GPU machine):

    # all five workloads (meant to finish well under 3 minutes on an H100)
    python3 tools/capture/torch_traces.py --out traces/

    # a subset
    python3 tools/capture/torch_traces.py --out traces/ --only qwen7b-decode-b1-eager,bge-base-b64-s256

    # one decode step bracketed by cudaProfilerStart/Stop, for Nsight Compute
    # (normally driven by tools/capture/ncu_decode.sh, not run by hand)
    python3 tools/capture/torch_traces.py --ncu-step qwen7b-decode-b1-eager

    # no GPU needed: tiny float32 versions of every workload, one step each,
    # to catch shape bugs (add --out DIR to also exercise timing + trace export)
    python3 tools/capture/torch_traces.py --cpu-smoke

For each workload NAME the --out directory receives:

    NAME.json              Chrome trace (ProfilerStep#3 and #4 are the recorded steps)
    NAME.unprofiled.json   step time measured without the profiler

Workload names: qwen7b-decode-b1-eager, qwen7b-decode-b16-eager,
qwen7b-decode-b1-graph, qwen7b-prefill-1024, qwen0.5b-decode-b1-eager,
qwen3moe-decode-b1-eager, qwen3moe-decode-b16-eager, bge-base-b64-s256, encoder-b64-s512-h1024.
"""

import argparse
import datetime
import gc
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

# ---------------------------------------------------------------------------
# Shapes
# ---------------------------------------------------------------------------


@dataclass
class QwenShape:
    """Qwen2.5-7B (config.json of the released model), or a tiny stand-in."""

    layers: int = 28
    hidden: int = 3584
    ffn: int = 18944
    q_heads: int = 28
    kv_heads: int = 4
    head_dim: int = 128
    vocab: int = 152064
    rms_eps: float = 1e-6
    rope_theta: float = 1_000_000.0
    past_tokens: int = 512  # KV-cache length seen by each decode step
    prefill_tokens: int = 1024
    # Qwen3: no q/k/v bias, an RMSNorm over each head of q and k.
    attn_bias: bool = True
    qk_norm: bool = False
    # Mixture of experts (Qwen3-MoE): experts, experts per token, each expert's width (0: dense).
    experts: int = 0
    top_k: int = 0
    expert_ffn: int = 0


@dataclass
class BertShape:
    """bge-base-en (BERT-base), or a tiny stand-in."""

    layers: int = 12
    hidden: int = 768
    ffn: int = 3072
    heads: int = 12
    vocab: int = 30522
    max_pos: int = 512
    ln_eps: float = 1e-12
    batch: int = 64
    seq: int = 256


TINY_QWEN = QwenShape(layers=2, hidden=64, ffn=160, q_heads=4, kv_heads=2, head_dim=16,
                      vocab=300, past_tokens=8, prefill_tokens=12)
TINY_BERT = BertShape(layers=2, hidden=32, ffn=64, heads=4, vocab=100, max_pos=16,
                      batch=2, seq=8)

# Qwen2.5-0.5B (models/workloads/qwen2.5-0.5b.json; its tied LM head is a separate matrix here,
# which changes no kernel).
QWEN_05B = QwenShape(layers=24, hidden=896, ffn=4864, q_heads=14, kv_heads=2, head_dim=64, vocab=151936)

# Qwen3-30B-A3B (models/workloads/qwen3-30b-a3b.json): 61 GB of bf16 weights, so an H100 or H200.
QWEN3_30B = QwenShape(layers=48, hidden=2048, ffn=0, q_heads=32, kv_heads=4, head_dim=128, vocab=151936,
                      attn_bias=False, qk_norm=True, experts=128, top_k=8, expert_ffn=768)
TINY_MOE = QwenShape(layers=2, hidden=64, ffn=0, q_heads=4, kv_heads=2, head_dim=16, vocab=300,
                     past_tokens=8, prefill_tokens=12, attn_bias=False, qk_norm=True,
                     experts=8, top_k=2, expert_ffn=32)

# name -> (family, parameters); the order here is the run order.
WORKLOADS = {
    "qwen7b-decode-b1-eager": ("qwen", dict(mode="decode", batch=1, graph=False)),
    "qwen7b-decode-b16-eager": ("qwen", dict(mode="decode", batch=16, graph=False)),
    "qwen7b-decode-b1-graph": ("qwen", dict(mode="decode", batch=1, graph=True)),
    "qwen7b-prefill-1024": ("qwen", dict(mode="prefill", batch=1, graph=False)),
    # A small decode step (validate/experiments/replicas-h200.toml runs N copies of it).
    "qwen0.5b-decode-b1-eager": ("qwen0.5b", dict(mode="decode", batch=1, graph=False)),
    # Qwen3-MoE as transformers 4.51 runs it eagerly: a loop over the experts hit, each a
    # host sync (nonzero, where) and its own three GEMMs.
    "qwen3moe-decode-b1-eager": ("qwen3moe", dict(mode="decode", batch=1, graph=False)),
    "qwen3moe-decode-b16-eager": ("qwen3moe", dict(mode="decode", batch=16, graph=False)),
    "bge-base-b64-s256": ("bert", dict()),
    # The power probe's encoder load (tools/capture/power_probe.py): torch's own
    # TransformerEncoderLayer (eval, native fast path), so the same kernels run.
    "encoder-b64-s512-h1024": ("encoder", dict()),
}

# enable_gqa appeared in torch 2.5; older versions need the KV heads repeated.
HAS_ENABLE_GQA = torch.__version__ >= "2.5"


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


class Init:
    """Allocates weights straight on the target device (no CPU staging: 15 GB would be slow)."""

    def __init__(self, device, dtype):
        self.device, self.dtype = device, dtype

    def normal(self, *shape, std=0.02):
        return torch.empty(shape, device=self.device, dtype=self.dtype).normal_(0.0, std)

    def ones(self, *shape):
        return torch.ones(shape, device=self.device, dtype=self.dtype)

    def zeros(self, *shape):
        return torch.zeros(shape, device=self.device, dtype=self.dtype)


# ---------------------------------------------------------------------------
# Qwen2.5-style decoder, written the way the Hugging Face eager implementation
# runs it (separate q/k/v/gate/up projections, fp32 RMSNorm, rotate_half RoPE),
# so the kernel mix matches what an unfused eager server launches.
# ---------------------------------------------------------------------------


class QwenDecoder:
    def __init__(self, s: QwenShape, init: Init):
        self.s = s
        self.device, self.dtype = init.device, init.dtype
        h, kv = s.hidden, s.kv_heads * s.head_dim
        self.embed = init.normal(s.vocab, h)
        self.layers = []
        qd = s.q_heads * s.head_dim
        for _ in range(s.layers):
            lw = dict(
                ln1=init.ones(h),
                wq=init.normal(qd, h), wk=init.normal(kv, h), wv=init.normal(kv, h),
                bq=init.zeros(qd) if s.attn_bias else None,
                bk=init.zeros(kv) if s.attn_bias else None,
                bv=init.zeros(kv) if s.attn_bias else None,
                wo=init.normal(h, qd),
                ln2=init.ones(h),
            )
            if s.qk_norm:
                lw.update(q_norm=init.ones(s.head_dim), k_norm=init.ones(s.head_dim))
            if s.experts:
                # Each expert's matrices are views of one stacked tensor: the same GEMMs as
                # separate nn.Linear weights, allocated in three calls instead of 384.
                e, f = s.experts, s.expert_ffn
                lw.update(router=init.normal(e, h), eg=init.normal(e, f, h), eu=init.normal(e, f, h),
                          ed=init.normal(e, h, f))
            else:
                lw.update(wg=init.normal(s.ffn, h), wu=init.normal(s.ffn, h), wd=init.normal(h, s.ffn))
            self.layers.append(lw)
        self.norm = init.ones(h)
        self.lm_head = init.normal(s.vocab, h)  # untied in the 7B model
        self.inv_freq = 1.0 / (s.rope_theta ** (
            torch.arange(0, s.head_dim, 2, device=self.device, dtype=torch.float32) / s.head_dim))

    def new_cache(self, batch, max_len, fill_random):
        """Static per-layer KV cache [B, kv_heads, max_len, head_dim] (graph-capturable, no cat)."""
        shape = (batch, self.s.kv_heads, max_len, self.s.head_dim)
        make = (lambda: torch.empty(shape, device=self.device, dtype=self.dtype).normal_()) \
            if fill_random else (lambda: torch.zeros(shape, device=self.device, dtype=self.dtype))
        return [(make(), make()) for _ in range(self.s.layers)]

    def rms_norm(self, x, w):
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.s.rms_eps)
        return w * h.to(x.dtype)

    @staticmethod
    def rotate_half(x):
        half = x.shape[-1] // 2
        return torch.cat((-x[..., half:], x[..., :half]), dim=-1)

    def rope_tables(self, pos, n):
        # Positions are made on the device (as HF's cache_position is), so the
        # step does no host-to-device copy and can be captured into a graph.
        positions = torch.arange(pos, pos + n, device=self.device, dtype=torch.float32)
        freqs = positions[:, None] * self.inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos().to(self.dtype)[None, None], emb.sin().to(self.dtype)[None, None]

    def attention(self, x, lw, cos, sin, cache, pos):
        s = self.s
        b, n, _ = x.shape
        q = F.linear(x, lw["wq"], lw["bq"]).view(b, n, s.q_heads, s.head_dim).transpose(1, 2)
        k = F.linear(x, lw["wk"], lw["bk"]).view(b, n, s.kv_heads, s.head_dim).transpose(1, 2)
        v = F.linear(x, lw["wv"], lw["bv"]).view(b, n, s.kv_heads, s.head_dim).transpose(1, 2)
        if s.qk_norm:
            q = self.rms_norm(q, lw["q_norm"])
            k = self.rms_norm(k, lw["k_norm"])
        q = q * cos + self.rotate_half(q) * sin
        k = k * cos + self.rotate_half(k) * sin
        k_cache, v_cache = cache
        k_cache[:, :, pos:pos + n] = k
        v_cache[:, :, pos:pos + n] = v
        if pos == 0:
            # Prefill: attend over the fresh chunk only (no cache read), causal.
            keys, values, causal = k, v, True
        else:
            # Decode: one query token sees every cached position, so no mask.
            assert n == 1, "decode steps take one token per sequence"
            keys, values, causal = k_cache[:, :, :pos + n], v_cache[:, :, :pos + n], False
        if HAS_ENABLE_GQA:
            o = F.scaled_dot_product_attention(q, keys, values, is_causal=causal, enable_gqa=True)
        else:
            rep = s.q_heads // s.kv_heads
            o = F.scaled_dot_product_attention(q, keys.repeat_interleave(rep, dim=1),
                                               values.repeat_interleave(rep, dim=1),
                                               is_causal=causal)
        o = o.transpose(1, 2).reshape(b, n, s.q_heads * s.head_dim)
        return F.linear(o, lw["wo"])

    def mlp(self, x, lw):
        if self.s.experts:
            return self.moe(x, lw)
        return F.linear(F.silu(F.linear(x, lw["wg"])) * F.linear(x, lw["wu"]), lw["wd"])

    def moe(self, x, lw):
        """Qwen3MoeSparseMoeBlock.forward of transformers 4.51, op for op."""
        s = self.s
        b, n, h = x.shape
        x = x.view(-1, h)
        router_logits = F.linear(x, lw["router"])
        routing_weights = F.softmax(router_logits, dim=1, dtype=torch.float)
        routing_weights, selected = torch.topk(routing_weights, s.top_k, dim=-1)
        routing_weights /= routing_weights.sum(dim=-1, keepdim=True)  # norm_topk_prob
        routing_weights = routing_weights.to(x.dtype)
        out = torch.zeros((b * n, h), dtype=x.dtype, device=x.device)
        expert_mask = F.one_hot(selected, num_classes=s.experts).permute(2, 1, 0)
        expert_hit = torch.greater(expert_mask.sum(dim=(-1, -2)), 0).nonzero()
        for expert_idx in expert_hit:
            e = int(expert_idx)  # ModuleList indexing by a tensor: a device-to-host copy
            idx, top_x = torch.where(expert_mask[expert_idx].squeeze(0))
            cur = x[None, top_x].reshape(-1, h)
            y = F.linear(F.silu(F.linear(cur, lw["eg"][e])) * F.linear(cur, lw["eu"][e]), lw["ed"][e])
            y = y * routing_weights[top_x, idx, None]
            out.index_add_(0, top_x, y.to(x.dtype))
        return out.view(b, n, h)

    def forward(self, ids, cache, pos):
        """ids [B, n] at positions pos..pos+n-1 -> greedy next token [B, 1]."""
        h = F.embedding(ids, self.embed)
        cos, sin = self.rope_tables(pos, ids.shape[1])
        for lw, layer_cache in zip(self.layers, cache):
            h = h + self.attention(self.rms_norm(h, lw["ln1"]), lw, cos, sin, layer_cache, pos)
            h = h + self.mlp(self.rms_norm(h, lw["ln2"]), lw)
        h = self.rms_norm(h, self.norm)
        # Only the last position's logits are needed to pick the next token
        # (what serving engines and HF generate() compute during prefill).
        logits = F.linear(h[:, -1:, :], self.lm_head)
        return logits.argmax(dim=-1)


# ---------------------------------------------------------------------------
# BERT-base encoder (bge-base): post-LN, GELU FFN, no mask, CLS pooling.
# ---------------------------------------------------------------------------


class BertEncoder:
    def __init__(self, s: BertShape, init: Init):
        self.s = s
        self.device = init.device
        h = s.hidden
        self.word = init.normal(s.vocab, h)
        self.position = init.normal(s.max_pos, h)
        self.token_type = init.normal(2, h)
        self.ln_w, self.ln_b = init.ones(h), init.zeros(h)
        self.layers = []
        for _ in range(s.layers):
            self.layers.append(dict(
                wq=init.normal(h, h), bq=init.zeros(h),
                wk=init.normal(h, h), bk=init.zeros(h),
                wv=init.normal(h, h), bv=init.zeros(h),
                wo=init.normal(h, h), bo=init.zeros(h),
                ln1_w=init.ones(h), ln1_b=init.zeros(h),
                w1=init.normal(s.ffn, h), b1=init.zeros(s.ffn),
                w2=init.normal(h, s.ffn), b2=init.zeros(h),
                ln2_w=init.ones(h), ln2_b=init.zeros(h),
            ))

    def forward(self, ids, token_type_ids):
        s = self.s
        b, n = ids.shape
        d = s.hidden // s.heads
        positions = torch.arange(n, device=self.device)
        h = F.embedding(ids, self.word) + F.embedding(token_type_ids, self.token_type) \
            + F.embedding(positions, self.position)[None]
        h = F.layer_norm(h, (s.hidden,), self.ln_w, self.ln_b, s.ln_eps)
        for lw in self.layers:
            q = F.linear(h, lw["wq"], lw["bq"]).view(b, n, s.heads, d).transpose(1, 2)
            k = F.linear(h, lw["wk"], lw["bk"]).view(b, n, s.heads, d).transpose(1, 2)
            v = F.linear(h, lw["wv"], lw["bv"]).view(b, n, s.heads, d).transpose(1, 2)
            a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, s.hidden)
            h = F.layer_norm(F.linear(a, lw["wo"], lw["bo"]) + h, (s.hidden,),
                             lw["ln1_w"], lw["ln1_b"], s.ln_eps)
            m = F.linear(F.gelu(F.linear(h, lw["w1"], lw["b1"])), lw["w2"], lw["b2"])
            h = F.layer_norm(m + h, (s.hidden,), lw["ln2_w"], lw["ln2_b"], s.ln_eps)
        # bge sentence embedding: CLS token, L2-normalised.
        return F.normalize(h[:, 0], dim=-1)


# ---------------------------------------------------------------------------
# Workloads: each is a step() closure holding its own inputs and caches, so
# dropping the closure frees them.
# ---------------------------------------------------------------------------


def qwen_workload(model: QwenDecoder, mode, batch, graph):
    s = model.s
    if mode == "prefill":
        cache = model.new_cache(batch, s.prefill_tokens, fill_random=False)
        ids = torch.randint(0, s.vocab, (batch, s.prefill_tokens), device=model.device)

        def step():
            return model.forward(ids, cache, 0)

        return step

    # Decode: every step writes position `past` and attends over past+1 tokens,
    # so all steps are identical (steady state at a fixed context length).
    past = s.past_tokens
    cache = model.new_cache(batch, past + 1, fill_random=True)
    state = {"ids": torch.randint(0, s.vocab, (batch, 1), device=model.device)}

    if not graph:
        def step():
            # Feed the sampled token back in, as a generation loop does.
            state["ids"] = model.forward(state["ids"], cache, past)
            return state["ids"]

        return step

    if model.device.type != "cuda":
        print("  (cpu smoke: CUDA graph capture skipped, running the captured function eagerly)")
        static_ids = state["ids"]

        def step():
            static_ids.copy_(model.forward(static_ids, cache, past))
            return static_ids

        return step

    static_ids = state["ids"]
    # Warm up on a side stream before capture (cuBLAS/SDPA workspaces and
    # heuristics must be settled outside the graph), as the torch docs require.
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            model.forward(static_ids, cache, past)
    torch.cuda.current_stream().wait_stream(side)
    torch.cuda.synchronize()

    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        static_out = model.forward(static_ids, cache, past)
    torch.cuda.synchronize()

    def step():
        g.replay()
        # Next token becomes the next input; one small copy outside the graph.
        static_ids.copy_(static_out)
        return static_ids

    return step  # the closure keeps g (and its memory pool) alive until dropped


class TorchEncoderLayer:
    """nn.TransformerEncoderLayer(1024, 16, 4096, batch_first=True), input (64, 512, 1024), or tiny."""

    def __init__(self, init: Init, tiny: bool):
        d, heads, ffn, self.batch, self.seq = (32, 4, 64, 2, 8) if tiny else (1024, 16, 4096, 64, 512)
        self.hidden = d
        self.device = init.device
        self.layer = torch.nn.TransformerEncoderLayer(d, heads, ffn, batch_first=True, device=init.device,
                                                      dtype=init.dtype).eval()
        self.x = torch.randn(self.batch, self.seq, d, device=init.device, dtype=init.dtype)


def encoder_workload(model: TorchEncoderLayer):
    def step():
        return model.layer(model.x)

    return step


def bert_workload(model: BertEncoder):
    s = model.s
    ids = torch.randint(0, s.vocab, (s.batch, s.seq), device=model.device)
    token_type_ids = torch.zeros_like(ids)

    def step():
        return model.forward(ids, token_type_ids)

    return step


class Models:
    """Holds at most one model family; the Qwen weights are shared by the four Qwen workloads."""

    def __init__(self, device, dtype, tiny):
        self.device, self.dtype, self.tiny = device, dtype, tiny
        self.family, self.model = None, None

    def get(self, family):
        if family != self.family:
            self.drop()
            init = Init(self.device, self.dtype)
            t0 = time.perf_counter()
            if family == "qwen3moe":
                self.model = QwenDecoder(TINY_MOE if self.tiny else QWEN3_30B, init)
            elif family.startswith("qwen"):
                full = QWEN_05B if family == "qwen0.5b" else QwenShape()
                self.model = QwenDecoder(TINY_QWEN if self.tiny else full, init)
            elif family == "encoder":
                self.model = TorchEncoderLayer(init, self.tiny)
            else:
                self.model = BertEncoder(TINY_BERT if self.tiny else BertShape(), init)
            sync(self.device)
            self.family = family
            print(f"built {family} weights in {time.perf_counter() - t0:.1f} s")
        return self.model

    def drop(self):
        self.model, self.family = None, None
        free_memory(self.device)


def free_memory(device):
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def build_step(models, name):
    family, params = WORKLOADS[name]
    model = models.get(family)
    if family.startswith("qwen"):
        return qwen_workload(model, **params)
    if family == "encoder":
        return encoder_workload(model)
    return bert_workload(model)


# ---------------------------------------------------------------------------
# Measurement
# ---------------------------------------------------------------------------

WARMUP_STEPS = 5
TIMED_STEPS = 20
SCHEDULE = dict(wait=1, warmup=2, active=2, repeat=1)


def driver_version():
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.stdout.strip().splitlines()
    return lines[0].strip() if out.returncode == 0 and lines else None


def time_steps(step, device):
    """Per-step wall time with a synchronize on both sides (the same boundary the traces use)."""
    times = []
    for _ in range(TIMED_STEPS):
        sync(device)
        t0 = time.perf_counter()
        step()
        sync(device)
        times.append(time.perf_counter() - t0)
    # Also back-to-back, to show how much the per-step synchronize costs.
    sync(device)
    t0 = time.perf_counter()
    for _ in range(TIMED_STEPS):
        step()
    sync(device)
    pipelined = (time.perf_counter() - t0) / TIMED_STEPS
    return times, pipelined


def export_trace(prof, path):
    """export_chrome_trace, then copy with_flops' per-op FLOP counts into the trace.

    torch computes FLOPs for aten::mm/addmm/bmm/... when with_flops=True but
    (at least in some versions) the Chrome trace omits them; each op's
    FunctionEvent id equals its trace event's "External id", so they can be
    joined. Ops that already carry "flops" are left alone.
    """
    prof.export_chrome_trace(path)
    flops = {e.id: (e.name, int(e.flops)) for e in prof.events() if getattr(e, "flops", 0)}
    if not flops:
        return
    try:
        with open(path) as f:
            trace = json.load(f)
    except (OSError, ValueError) as err:
        print(f"  WARNING: could not re-read {path} to add flops: {err}", file=sys.stderr)
        return
    added = 0
    for e in trace.get("traceEvents", []):
        args = e.get("args")
        if e.get("cat") != "cpu_op" or not isinstance(args, dict) or "flops" in args:
            continue
        hit = flops.get(args.get("External id"))
        if hit and hit[0] == e.get("name"):
            args["flops"] = hit[1]
            added += 1
    if added:
        with open(path, "w") as f:
            json.dump(trace, f)
    print(f"  flops: {len(flops)} ops counted by the profiler, {added} added to the trace")


def summarize_trace(path):
    """Counts what the importer will look for; an empty kernel list means CUPTI recorded nothing."""
    with open(path) as f:
        events = json.load(f).get("traceEvents", [])
    steps = sorted({e["name"] for e in events if str(e.get("name", "")).startswith("ProfilerStep#")})
    kernels = sum(1 for e in events if e.get("cat") == "kernel")
    with_flops = sum(1 for e in events if "flops" in (e.get("args") or {}))
    return steps, kernels, with_flops


def capture(name, step, device, out_dir, meta):
    for _ in range(WARMUP_STEPS):
        step()
    sync(device)

    times, pipelined = time_steps(step, device)
    record = {
        "workload": name,
        "gpu": meta["gpu"],
        "driver": meta["driver"],
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "steps": TIMED_STEPS,
        "mean_step_us": round(sum(times) / len(times) * 1e6, 1),
        "min_step_us": round(min(times) * 1e6, 1),
        "pipelined_mean_step_us": round(pipelined * 1e6, 1),
        "date": datetime.datetime.now(datetime.timezone.utc).date().isoformat(),
    }
    with open(os.path.join(out_dir, f"{name}.unprofiled.json"), "w") as f:
        json.dump(record, f, indent=2)
        f.write("\n")

    trace_path = os.path.join(out_dir, f"{name}.json")
    activities = [torch.profiler.ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    n_steps = sum(SCHEDULE[k] for k in ("wait", "warmup", "active"))
    with torch.profiler.profile(
        activities=activities,
        schedule=torch.profiler.schedule(**SCHEDULE),
        record_shapes=True,
        with_flops=True,
        on_trace_ready=lambda p: export_trace(p, trace_path),
    ) as prof:
        for _ in range(n_steps):
            step()
            # Synchronize inside each ProfilerStep so a step's GPU work ends
            # within its marker, matching the unprofiled timing above.
            sync(device)
            prof.step()

    steps, kernels, with_flops = summarize_trace(trace_path)
    print(f"  unprofiled mean {record['mean_step_us']:.0f} us, min {record['min_step_us']:.0f} us, "
          f"pipelined {record['pipelined_mean_step_us']:.0f} us")
    print(f"  trace {trace_path}: {', '.join(steps) or 'NO ProfilerStep markers'}, "
          f"{kernels} kernel events, {with_flops} events with flops")
    if device.type == "cuda" and kernels == 0:
        print(f"  WARNING: {name}: no kernel events recorded (CUPTI collected nothing)",
              file=sys.stderr)


def ncu_step(name, device):
    """Warm up outside any range, then bracket exactly one step with cudaProfilerStart/Stop."""
    models = Models(device, torch.bfloat16, tiny=False)
    step = build_step(models, name)
    for _ in range(WARMUP_STEPS):
        step()
    torch.cuda.synchronize()
    torch.cuda.profiler.start()
    step()
    torch.cuda.synchronize()
    torch.cuda.profiler.stop()
    print(f"profiled one step of {name} between cudaProfilerStart/Stop")


def cpu_smoke(names, out_dir):
    device = torch.device("cpu")
    models = Models(device, torch.float32, tiny=True)
    for name in names:
        print(f"[cpu smoke] {name}")
        step = build_step(models, name)
        out = step()
        family, params = WORKLOADS[name]
        if family.startswith("qwen"):
            expect = (params["batch"], 1)
        elif family == "encoder":
            expect = (2, 8, 32)
        else:
            expect = (TINY_BERT.batch, TINY_BERT.hidden)
        assert tuple(out.shape) == expect, f"{name}: output {tuple(out.shape)} != {expect}"
        if out_dir:
            capture(name, step, device, out_dir, {"gpu": "cpu", "driver": None})
        del step
    print("cpu smoke OK")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", help="directory for traces and .unprofiled.json files")
    ap.add_argument("--only", help="comma-separated workload names (default: all)")
    ap.add_argument("--ncu-step", metavar="NAME",
                    help="run one step of NAME inside cudaProfilerStart/Stop (for ncu)")
    ap.add_argument("--cpu-smoke", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()

    names = list(WORKLOADS)
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in WORKLOADS]
        if unknown:
            ap.error(f"unknown workload(s) {unknown}; known: {', '.join(WORKLOADS)}")
        names = [n for n in WORKLOADS if n in wanted]  # keep run order

    if args.out:
        os.makedirs(args.out, exist_ok=True)

    with torch.inference_mode():
        if args.cpu_smoke:
            cpu_smoke(names, args.out)
            return
        if not torch.cuda.is_available():
            sys.exit("no CUDA device visible (use --cpu-smoke for a shape check without a GPU)")
        device = torch.device("cuda")
        if args.ncu_step:
            if args.ncu_step not in WORKLOADS:
                ap.error(f"unknown workload {args.ncu_step!r}")
            ncu_step(args.ncu_step, device)
            return
        if not args.out:
            ap.error("--out DIR is required")

        meta = {"gpu": torch.cuda.get_device_name(), "driver": driver_version()}
        print(f"{meta['gpu']}, driver {meta['driver']}, torch {torch.__version__}")
        models = Models(device, torch.bfloat16, tiny=False)
        t_all = time.perf_counter()
        for name in names:
            print(f"[{name}]")
            t0 = time.perf_counter()
            step = build_step(models, name)
            capture(name, step, device, args.out, meta)
            del step  # frees caches, inputs, and any CUDA graph pool
            free_memory(device)
            print(f"  done in {time.perf_counter() - t0:.1f} s")
        models.drop()
        print(f"all done in {time.perf_counter() - t_all:.1f} s")


if __name__ == "__main__":
    main()
