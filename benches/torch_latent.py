#!/usr/bin/env python3
"""The sphere networks of assim-gen in PyTorch (CPU), timed like
`cargo bench -p assim-gen --bench latent`: the autoencoder's decoder (8 latent channels,
width 32, two nearest-neighbour upsamplings, 3x3 convolutions padded as the sphere: circular
in longitude, across the poles with the rows mirrored and rolled by half a turn) and the
latent denoiser (EDM-preconditioned residual 2-D conv, width 48, 4 blocks, kernel 3, 16
Fourier features, the background latent as extra channels), forward and forward + vector-
Jacobian product to the input, 16 members, at T21 (32x64) and T42 (64x128).

Setup (a venv outside the repository):
    python3 -m venv /tmp/torchvenv
    /tmp/torchvenv/bin/pip install torch --index-url https://download.pytorch.org/whl/cpu
    /tmp/torchvenv/bin/python benches/torch_latent.py [threads]
"""
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def sphere_pad(x, p=1):
    w = x.shape[3]
    north = torch.roll(torch.flip(x[:, :, :p], [2]), w // 2, 3)
    south = torch.roll(torch.flip(x[:, :, -p:], [2]), w // 2, 3)
    y = torch.cat([north, x, south], 2)
    return torch.cat([y[:, :, :, -p:], y, y[:, :, :, :p]], 3)


class Decoder(nn.Module):
    def __init__(self, c=3, w=32, z=8):
        super().__init__()
        self.dec_in = nn.Conv2d(z, 2 * w, 3)
        self.dec_up1 = nn.Conv2d(2 * w, 2 * w, 3)
        self.dec_up2 = nn.Conv2d(2 * w, w, 3)
        self.dec_out = nn.Conv2d(w, c, 3)

    def forward(self, z):
        up = lambda h: F.interpolate(h, scale_factor=2, mode="nearest")
        h = F.silu(self.dec_in(sphere_pad(z)))
        h = F.silu(self.dec_up1(sphere_pad(up(h))))
        h = F.silu(self.dec_up2(sphere_pad(up(h))))
        return self.dec_out(sphere_pad(h))


class Block(nn.Module):
    def __init__(self, w):
        super().__init__()
        self.conv1 = nn.Conv2d(w, w, 3)
        self.conv2 = nn.Conv2d(w, w, 3)
        self.emb = nn.Linear(w, w)


class LatentNet(nn.Module):
    def __init__(self, c=8, w=48, blocks=4, n_freq=16):
        super().__init__()
        self.input = nn.Conv2d(2 * c, w, 3)
        self.blocks = nn.ModuleList(Block(w) for _ in range(blocks))
        self.output = nn.Conv2d(w, c, 3)
        self.first = nn.Linear(2 * n_freq, w)
        self.second = nn.Linear(w, w)
        self.register_buffer(
            "freqs", torch.tensor([2 ** (i / 2) / 4 * 2 * math.pi for i in range(n_freq)])[None, :]
        )

    def forward(self, x, c_noise):
        arg = c_noise @ self.freqs
        e = self.second(F.silu(self.first(torch.cat([arg.sin(), arg.cos()], 1))))
        h = self.input(sphere_pad(x))
        for b in self.blocks:
            r = b.conv1(sphere_pad(F.silu(h))) + b.emb(e)[:, :, None, None]
            r = b.conv2(sphere_pad(F.silu(r)))
            h = h + r
        return self.output(sphere_pad(F.silu(h)))


def denoise(net, x, sigma, cond):
    s2 = sigma * sigma
    c_skip, c_out, c_in = 1 / (s2 + 1), sigma / math.sqrt(s2 + 1), 1 / math.sqrt(s2 + 1)
    c_noise = torch.full((x.shape[0], 1), math.log(sigma) / 4)
    return x * c_skip + net(torch.cat([x * c_in, cond], 1), c_noise) * c_out


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
    torch.manual_seed(0)
    n = 16
    for name, nlat, nlon, reps in [("T21", 32, 64, 3), ("T42", 64, 128, 3)]:
        h, w = nlat // 4, nlon // 4
        dec, net = Decoder(), LatentNet()
        z = torch.randn(n, 8, h, w)
        cond = torch.randn(n, 8, h, w)
        with torch.no_grad():
            probe = dec(z)
            dec_fwd = best_of(reps, lambda: dec(z))
            den_fwd = best_of(reps, lambda: denoise(net, z, 0.5, cond))

        def dec_vjp():
            zg = z.clone().requires_grad_(True)
            (dec(zg) * probe).sum().backward()

        def den_vjp():
            zg = z.clone().requires_grad_(True)
            (denoise(net, zg, 0.5, cond) * cond).sum().backward()

        print(f"{name}: PyTorch {torch.__version__}, {threads} thread(s), batch {n}")
        print(f"  decoder   forward {dec_fwd * 1e3:8.1f} ms, forward+VJP {best_of(reps, dec_vjp) * 1e3:8.1f} ms")
        print(f"  denoiser  forward {den_fwd * 1e3:8.1f} ms, forward+VJP {best_of(reps, den_vjp) * 1e3:8.1f} ms")


if __name__ == "__main__":
    main()
