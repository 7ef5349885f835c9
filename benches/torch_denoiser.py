#!/usr/bin/env python3
"""The Lorenz-96 denoiser of assim-gen in PyTorch (CPU), timed like
`cargo bench -p assim-gen --bench denoiser`: the same architecture (EDM preconditioning, a
residual circular 1-D conv network, width 32, 4 blocks, kernel 5, 16 Fourier features of
c_noise, the background as a second channel), the same batch (20 members × 40 variables) and
the same number of evaluations (32), forward only and forward + vector-Jacobian product to the
input; and a training step at batch 128.

Setup (a venv outside the repository):
    python3 -m venv /tmp/torchvenv
    /tmp/torchvenv/bin/pip install torch --index-url https://download.pytorch.org/whl/cpu
    /tmp/torchvenv/bin/python benches/torch_denoiser.py [threads]
"""
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, w, k):
        super().__init__()
        self.conv1 = nn.Conv1d(w, w, k)
        self.conv2 = nn.Conv1d(w, w, k)
        self.emb = nn.Linear(w, w)


class Net(nn.Module):
    def __init__(self, c_in=2, w=32, blocks=4, k=5, n_freq=16):
        super().__init__()
        self.pad = k // 2
        self.input = nn.Conv1d(c_in, w, k)
        self.blocks = nn.ModuleList(Block(w, k) for _ in range(blocks))
        self.output = nn.Conv1d(w, 1, k)
        self.embed1 = nn.Linear(2 * n_freq, w)
        self.embed2 = nn.Linear(w, w)
        self.register_buffer(
            "freqs", torch.tensor([2 ** (i / 2) / 4 * 2 * math.pi for i in range(n_freq)])[None, :]
        )

    def cpad(self, x):
        return F.pad(x, (self.pad, self.pad), mode="circular")

    def forward(self, x, c_noise):
        arg = c_noise @ self.freqs
        e = self.embed2(F.silu(self.embed1(torch.cat([arg.sin(), arg.cos()], 1))))
        h = self.input(self.cpad(x))
        for b in self.blocks:
            r = b.conv1(self.cpad(F.silu(h))) + b.emb(e)[:, :, None]
            r = b.conv2(self.cpad(F.silu(r)))
            h = h + r
        return self.output(self.cpad(F.silu(h)))[:, 0, :]


def denoise(net, x, sigma, cond):
    s2 = sigma * sigma
    c_skip, c_out, c_in = 1 / (s2 + 1), sigma / torch.sqrt(s2 + 1), 1 / torch.sqrt(s2 + 1)
    inp = torch.stack([x * c_in, cond], 1)
    return x * c_skip + net(inp, torch.log(sigma) / 4) * c_out


def best_of(reps, f):
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t)
    return best


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    net = Net()
    n, nx, evals = 20, 40, 32
    x, c = torch.randn(n, nx), torch.randn(n, nx)
    sigma = torch.full((n, 1), 0.5)

    def fwd():
        with torch.no_grad():
            y = x
            for _ in range(evals):
                y = denoise(net, y, sigma, c)

    def vjp():
        for p in net.parameters():
            p.requires_grad_(False)
        for _ in range(evals):
            xg = x.clone().requires_grad_(True)
            d = denoise(net, xg, sigma, c)
            (g,) = torch.autograd.grad((d * c).sum(), xg)
        for p in net.parameters():
            p.requires_grad_(True)

    b = 128
    xb, cb, eb, sb = torch.randn(b, nx), torch.randn(b, nx), torch.randn(b, nx), torch.full((b, 1), 0.5)
    steps = 20

    def train():
        for _ in range(steps):
            w = (sb**2 + 1) / sb**2
            loss = ((denoise(net, xb + eb * sb, sb, cb) - xb) ** 2 * w).mean()
            net.zero_grad()
            loss.backward()

    fwd(), vjp(), train()  # warm-up
    f, v, t = best_of(5, fwd), best_of(5, vjp), best_of(3, train)
    print(f"PyTorch {torch.__version__} CPU, {threads} threads, batch {n} x nx {nx}, {evals} evaluations:")
    print(f"  forward      {f / evals * 1e3:8.3f} ms per evaluation")
    print(f"  forward+VJP  {v / evals * 1e3:8.3f} ms per evaluation")
    print(f"  train step   {t / steps * 1e3:8.3f} ms (batch {b})")


if __name__ == "__main__":
    main()
