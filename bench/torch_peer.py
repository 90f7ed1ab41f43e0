#!/usr/bin/env python3
"""PyTorch CPU peer of zoomdiff's tracked benchmarks.

Runs the same workloads as the Go benchmarks (BenchmarkSgemm1024,
BenchmarkConv3x3C64S128, BenchmarkConv3x3C64S128Backward,
BenchmarkTrainStepToy, and models' BenchmarkSRUNetForward64) on two threads and prints one line per benchmark:

    torch <Name> <ns> ns/op <cpu-ns> cpu-ns/op

PyTorch is NCHW where zoomdiff is NHWC; the shapes are the same problems
with the same FLOP counts. Each benchmark is warmed up, then timed over
several rounds of at least --min-time seconds, and the best round is
reported, because the machine may be shared with other work. Besides wall
time per op it prints the process CPU time per op, which other work on the
machine does not inflate (though with several threads it counts the time
OpenMP workers spend spinning).
"""
import argparse
import json
import time

import torch

import twin


def timed(fn, min_time, rounds):
    """Best wall and process-CPU ns per call of fn over rounds of at least
    min_time seconds each."""
    for _ in range(3):
        fn()
    # Calibrate the iteration count so a round lasts about min_time.
    n, t = 1, 0.0
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        t = time.perf_counter() - t0
        if t >= min_time / 4:
            break
        n *= 2
    n = max(1, int(n * min_time / max(t, 1e-9)))
    best, best_cpu = float("inf"), float("inf")
    for _ in range(rounds):
        c0, t0 = time.process_time(), time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t0) / n)
        best_cpu = min(best_cpu, (time.process_time() - c0) / n)
    return best * 1e9, best_cpu * 1e9


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--min-time", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--model", default="models/sr.safetensors", help="SR model file for SRUNetForward64")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)

    def rnd(*shape):
        return torch.rand(*shape, generator=g) * 2 - 1

    results = {}

    # Sgemm1024: C = A·B, 1024³.
    a, b = rnd(1024, 1024), rnd(1024, 1024)
    c = torch.empty(1024, 1024)
    results["Sgemm1024"] = timed(lambda: torch.mm(a, b, out=c), args.min_time, args.rounds)

    # Conv3x3C64S128: 3×3, 64→64, 128×128, batch 1, pad 1, inference.
    x = rnd(1, 64, 128, 128)
    w = rnd(64, 64, 3, 3) * 0.05
    bias = rnd(64)

    def conv_fwd():
        with torch.no_grad():
            torch.nn.functional.conv2d(x, w, bias, padding=1)

    results["Conv3x3C64S128"] = timed(conv_fwd, args.min_time, args.rounds)

    # Conv3x3C64S128Backward: forward + input, weight and bias gradients.
    xg = x.clone().requires_grad_(True)
    wg = w.clone().requires_grad_(True)
    bg = bias.clone().requires_grad_(True)
    dy = rnd(1, 64, 128, 128)

    def conv_fwd_bwd():
        xg.grad = wg.grad = bg.grad = None
        y = torch.nn.functional.conv2d(xg, wg, bg, padding=1)
        y.backward(dy)

    results["Conv3x3C64S128Backward"] = timed(conv_fwd_bwd, args.min_time, args.rounds)

    # TrainStepToy: conv 3→32→32→3, ReLU between, batch 16 of 64×64×3,
    # MSE against a fixed target, Adam.
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 32, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(32, 32, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(32, 3, 3, padding=1),
    )
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    inp = torch.rand(16, 3, 64, 64, generator=g)
    target = torch.rand(16, 3, 64, 64, generator=g)

    def train_step():
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(net(inp), target)
        loss.backward()
        opt.step()

    results["TrainStepToy"] = timed(train_step, args.min_time, args.rounds)

    # SRUNetForward64: the built-in SR model's U-Net (twin.unet, the same
    # weights) on one 64×64 latent window, batch 1, inference, t = 500.
    meta, tensors = twin.read_st(args.model)
    ucfg = json.loads(meta["config"])["unet"]
    U = {k[5:]: torch.tensor(v[2]).float() for k, v in tensors.items() if k.startswith("unet.")}
    z = torch.randn(1, ucfg["in_channels"], 64, 64, generator=g)
    t = torch.tensor([500])

    def unet_fwd():
        with torch.no_grad():
            twin.unet(U, ucfg, z, t)

    results["SRUNetForward64"] = timed(unet_fwd, args.min_time, args.rounds)

    for name, (ns, cpu) in results.items():
        print(f"torch {name} {ns:.0f} ns/op {cpu:.0f} cpu-ns/op")


if __name__ == "__main__":
    main()
