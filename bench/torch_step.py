#!/usr/bin/python3
"""bench/torch_step: the same ProGAN D step and G step as bench_step, in PyTorch.

Used only for timing (bench/side_by_side.py) and for a cross-check against a
progan step dump (`progan train --dump-step K`): same shapes, WGAN-GP with
drift, Adam (beta1 0, beta2 0.99) and the Gs moving average, progan-spec.md.
Never a dependency of the build or the tests; needs Debian's python3-torch
(bench/setup-torch.sh installs it).

usage: torch_step.py time [--res R] [--batch N] [--fmap-base N] [--fmap-max N]
                          [--fmap-decay X] [--channels C] [--fading] [--reps N] [--threads T]
       torch_step.py check DUMP.safetensors [--per-tensor]
                          (float64 recompute, JSON errors, exit 1 if off; --per-tensor adds
                          PyTorch float32's errors, per network and per gradient tensor)
"""
import argparse
import json
import math
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

SLOPE, PIXEL_EPS, MBSTD_EPS = 0.2, 1e-8, 1e-8


def nf(cfg, stage):
    return min(int(cfg["fmap_base"] / 2.0 ** (stage * cfg["fmap_decay"])), cfg["fmap_max"])


def param_shapes(cfg):
    """Names, PyTorch shapes and gains of every G and D parameter (checkpoint-format.md)."""
    c, top, s2 = cfg["channels"], int(math.log2(cfg["resolution"])), math.sqrt(2)
    z, nf1 = cfg["latent"], nf(cfg, 1)
    rows = []

    def layer(name, out, inp, k, gain):
        rows.append((name + ".weight", [out, inp, k, k] if k else [out, inp], gain))
        rows.append((name + ".bias", [out], None))

    layer("G.b4.dense", nf1 * 16, z, 0, s2 / 4)
    rows[-1] = ("G.b4.dense.bias", [nf1], None)
    layer("G.b4.conv", nf1, nf1, 3, s2)
    layer("G.torgb4", c, nf1, 1, 1.0)
    for l in range(3, top + 1):
        r = 1 << l
        layer(f"G.b{r}.conv0", nf(cfg, l - 1), nf(cfg, l - 2), 3, s2)
        layer(f"G.b{r}.conv1", nf(cfg, l - 1), nf(cfg, l - 1), 3, s2)
        layer(f"G.torgb{r}", c, nf(cfg, l - 1), 1, 1.0)
    for l in range(top, 2, -1):
        r = 1 << l
        layer(f"D.fromrgb{r}", nf(cfg, l - 1), c, 1, s2)
        layer(f"D.b{r}.conv0", nf(cfg, l - 1), nf(cfg, l - 1), 3, s2)
        layer(f"D.b{r}.conv1", nf(cfg, l - 2), nf(cfg, l - 1), 3, s2)
    layer("D.fromrgb4", nf1, c, 1, s2)
    layer("D.b4.conv", nf1, nf1 + 1, 3, s2)
    layer("D.b4.dense0", nf(cfg, 0), nf1 * 16, 0, s2)
    layer("D.b4.dense1", 1, nf(cfg, 0), 0, 1.0)
    return rows


class Net:
    """Raw parameters (dict name -> tensor) and their equalized-LR scales."""

    def __init__(self, cfg, params):
        self.cfg, self.p = cfg, params
        self.scale = {n: g / math.sqrt(np.prod(s[1:])) for n, s, g in param_shapes(cfg) if g}

    def conv(self, x, name):
        w = self.p[name + ".weight"]
        y = F.conv2d(x, w * self.scale[name + ".weight"], padding=w.shape[2] // 2)
        return y + self.p[name + ".bias"].view(1, -1, 1, 1)

    def dense(self, x, name):
        w = self.p[name + ".weight"]
        return x @ (w * self.scale[name + ".weight"]).t()


def lrelu(x):
    return F.leaky_relu(x, SLOPE)


def pnorm(x):
    return x * torch.rsqrt(torch.mean(x * x, dim=1, keepdim=True) + PIXEL_EPS)


def mbstd(x, group):
    n, c, h, w = x.shape
    y = x.view(group, n // group, c, h, w)
    y = y - y.mean(dim=0, keepdim=True)
    s = torch.sqrt((y * y).mean(dim=0) + MBSTD_EPS).mean(dim=(1, 2, 3))  # [M]
    feat = s.repeat(group).view(n, 1, 1, 1).expand(n, 1, h, w)  # sample i -> group i mod M
    return torch.cat([x, feat], dim=1)


def generator(G, z, res, alpha):
    nf1 = nf(G.cfg, 1)
    h = G.dense(pnorm(z.view(z.shape[0], -1, 1, 1)).flatten(1), "G.b4.dense")
    h = h.view(-1, nf1, 4, 4) + G.p["G.b4.dense.bias"].view(1, -1, 1, 1)
    h = pnorm(lrelu(G.conv(pnorm(lrelu(h)), "G.b4.conv")))
    old, r = None, 8
    while r <= res:
        if r == res and alpha is not None:
            old = F.interpolate(G.conv(h, f"G.torgb{r // 2}"), scale_factor=2, mode="nearest")
        h = F.interpolate(h, scale_factor=2, mode="nearest")
        h = pnorm(lrelu(G.conv(h, f"G.b{r}.conv0")))
        h = pnorm(lrelu(G.conv(h, f"G.b{r}.conv1")))
        r *= 2
    img = G.conv(h, f"G.torgb{res}")
    return img if old is None else old + (img - old) * alpha


def d_block(D, x, r):
    x = lrelu(D.conv(x, f"D.b{r}.conv0"))
    x = lrelu(D.conv(x, f"D.b{r}.conv1"))
    return F.avg_pool2d(x, 2)


def discriminator(D, img, res, alpha):
    x = lrelu(D.conv(img, f"D.fromrgb{res}"))
    if res > 4:
        x = d_block(D, x, res)
        if alpha is not None:
            y = lrelu(D.conv(F.avg_pool2d(img, 2), f"D.fromrgb{res // 2}"))
            x = y + (x - y) * alpha
        r = res // 2
        while r >= 8:
            x = d_block(D, x, r)
            r //= 2
    n = x.shape[0]
    x = mbstd(x, min(D.cfg["mbstd_group"], n))
    x = lrelu(D.conv(x, "D.b4.conv")).flatten(1)  # index c*16 + y*4 + x, as progan
    x = lrelu(D.dense(x, "D.b4.dense0") + D.p["D.b4.dense0.bias"])
    return D.dense(x, "D.b4.dense1") + D.p["D.b4.dense1.bias"]


def d_loss(G, D, reals, latents, mix, res, alpha, cfg):
    """Per-sample WGAN-GP loss with drift; returns (loss mean, penalty mean)."""
    with torch.no_grad():
        fakes = generator(G, latents, res, alpha)
    d_real = discriminator(D, reals, res, alpha)
    d_fake = discriminator(D, fakes, res, alpha)
    mixed = (reals + (fakes - reals) * mix.view(-1, 1, 1, 1)).requires_grad_(True)
    (grad,) = torch.autograd.grad(discriminator(D, mixed, res, alpha).sum(), mixed,
                                  create_graph=True)
    norm = torch.sqrt((grad * grad).sum(dim=(1, 2, 3)))
    gp = (norm / cfg["gp_norm_divisor"] - 1.0) ** 2
    loss = (d_fake - d_real).view(-1) + cfg["gp_lambda"] * gp + cfg["drift"] * d_real.view(-1) ** 2
    return loss.mean(), gp.mean()


def g_loss(G, D, latents, res, alpha):
    return (-discriminator(D, generator(G, latents, res, alpha), res, alpha)).mean()


# ---- timing -------------------------------------------------------------------------------------

def time_steps(a):
    torch.set_num_threads(a.threads)
    cfg = dict(resolution=a.res, channels=a.channels, fmap_base=a.fmap_base, fmap_max=a.fmap_max,
               fmap_decay=a.fmap_decay, mbstd_group=4, gp_lambda=10.0, drift=0.001,
               gp_norm_divisor=1.0)
    cfg["latent"] = nf(cfg, 0)
    gen = torch.Generator().manual_seed(1)
    params = {n: (torch.randn(s, generator=gen) if g else torch.zeros(s)).requires_grad_(True)
              for n, s, g in param_shapes(cfg)}
    gparams = {n: t for n, t in params.items() if n.startswith("G.")}
    dparams = {n: t for n, t in params.items() if n.startswith("D.")}
    gs = {n: t.detach().clone() for n, t in gparams.items()}
    G, D = Net(cfg, gparams), Net(cfg, dparams)
    opt_d = torch.optim.Adam(dparams.values(), lr=1e-4, betas=(0.0, 0.99), eps=1e-8)
    opt_g = torch.optim.Adam(gparams.values(), lr=1e-4, betas=(0.0, 0.99), eps=1e-8)
    n, z, alpha = a.batch, cfg["latent"], (0.5 if a.fading and a.res > 4 else None)

    def d_step():
        reals = torch.randn(n, a.channels, a.res, a.res, generator=gen)
        loss, _ = d_loss(G, D, reals, torch.randn(n, z, generator=gen),
                         torch.rand(n, generator=gen), a.res, alpha, cfg)
        opt_d.zero_grad(set_to_none=True)
        loss.backward()
        opt_d.step()
        with torch.no_grad():  # Gs = G + (Gs - G) * beta
            torch._foreach_mul_(list(gs.values()), 0.999)
            torch._foreach_add_(list(gs.values()), list(gparams.values()), alpha=0.001)

    def g_step():
        for t in dparams.values():
            t.requires_grad_(False)
        loss = g_loss(G, D, torch.randn(n, z, generator=gen), a.res, alpha)
        opt_g.zero_grad(set_to_none=True)
        loss.backward()
        opt_g.step()
        for t in dparams.values():
            t.requires_grad_(True)

    best = {"d": 1e30, "g": 1e30}
    for k in range(a.reps + 1):  # the first run warms up (allocator, kernels)
        for name, fn in (("d", d_step), ("g", g_step)):
            t0 = time.perf_counter()
            fn()
            if k > 0:
                best[name] = min(best[name], time.perf_counter() - t0)
    print(json.dumps({"bench": "torch_step", "res": a.res, "batch": n, "fading": bool(a.fading),
                      "fmap_base": a.fmap_base, "fmap_max": a.fmap_max, "channels": a.channels,
                      "d_step_ms": round(best["d"] * 1e3, 2), "g_step_ms": round(best["g"] * 1e3, 2),
                      "threads": a.threads, "torch": torch.__version__}))


# ---- cross-check against a progan step dump -----------------------------------------------------

def read_safetensors(path):
    """(tensors as float64 torch tensors, metadata) from a safetensors file."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    meta = header.pop("__metadata__", {})
    out = {}
    for name, t in header.items():
        if t["dtype"] != "F32":
            raise SystemExit(f"{path}: tensor {name} is {t['dtype']}, expected F32")
        b, e = t["data_offsets"]
        arr = np.frombuffer(blob[8 + n + b:8 + n + e], dtype="<f4").reshape(t["shape"])
        out[name] = torch.from_numpy(arr.astype(np.float64))
    return out, meta


def rel_err(a, b):
    return float((a - b).norm() / max(float(b.norm()), 1e-30))


def step_grads(t, meta, dtype):
    """Losses and every gradient of a dump's D step and G step, computed in dtype
    from the dump's own inputs and parameters."""
    torch.set_default_dtype(dtype)
    t = {k: v.to(dtype) for k, v in t.items()}
    cfg = {k: float(meta[k]) for k in ("fmap_base", "fmap_decay", "gp_lambda", "drift",
                                        "gp_norm_divisor")}
    for k in ("fmap_max", "channels", "latent", "mbstd_group"):
        cfg[k] = int(meta[k])
    res, alpha_v = int(meta["resolution"]), float(meta["alpha"])
    cfg["resolution"] = res  # the networks up to the dump's phase
    alpha = alpha_v if alpha_v < 1.0 and res > 4 else None
    names = [n for n, _, _ in param_shapes(cfg)]
    p = {n: t["params." + n].clone().requires_grad_(True) for n in names}
    G = Net(cfg, {n: v for n, v in p.items() if n.startswith("G.")})
    D = Net(cfg, {n: v for n, v in p.items() if n.startswith("D.")})
    loss_d, gp = d_loss(G, D, t["inputs.reals"], t["inputs.latents_d"], t["inputs.gp_mix"], res,
                        alpha, cfg)
    dnames = [n for n in names if n.startswith("D.")]
    gd = torch.autograd.grad(loss_d, [p[n] for n in dnames], allow_unused=True)
    Dg = Net(cfg, {n: t["gstep." + n].clone().requires_grad_(True) for n in dnames})
    loss_g = g_loss(G, Dg, t["inputs.latents_g"], res, alpha)
    gnames = [n for n in names if n.startswith("G.")]
    gg = torch.autograd.grad(loss_g, [p[n] for n in gnames], allow_unused=True)
    # a layer the phase does not use (torgb4 at 16x16) has a zero gradient
    grads = {n: (torch.zeros_like(p[n]) if g is None else g).detach().double()
             for n, g in zip(dnames + gnames, gd + gg)}
    scalars = {"loss_d": loss_d.detach().double(), "loss_g": loss_g.detach().double(),
               "gp": gp.detach().double()}
    return scalars, grads, res, alpha_v


def net_err(grads, ref, prefix):
    """One network's gradients as a whole: largest difference over largest magnitude."""
    names = [n for n in ref if n.startswith(prefix)]
    diff = max(float((grads[n] - ref[n]).abs().max()) for n in names)
    return diff / max(max(float(ref[n].abs().max()) for n in names), 1e-30)


def check(path, per_tensor=False):
    """Recomputes a dump in float64; with per_tensor, also in PyTorch float32, and
    reports each gradient tensor's error of progan and of PyTorch float32."""
    t, meta = read_safetensors(path)
    scalars, ref, res, alpha_v = step_grads(t, meta, torch.float64)
    dev = {n: t["grads." + n] for n in ref}
    errs = {k: rel_err(v, t["scalars." + k][0]) for k, v in scalars.items()}
    grad_errs = {n: rel_err(dev[n], g) for n, g in ref.items()}
    worst = max(grad_errs, key=grad_errs.get)
    # per network, not per tensor: D's last bias gradient, 2 * drift * mean(D(real)), is what
    # is left after +1/N and -1/N cancel, so its own relative error is percent-sized in float32
    net = {k: net_err(dev, ref, k + ".") for k in ("G", "D")}
    ok = max(errs.values()) < 1e-4 and max(net.values()) < 1e-3
    out = {"bench": "torch_check", "dump": path, "resolution": res, "alpha": alpha_v,
           "loss_d": float(scalars["loss_d"]), "loss_d_progan": float(t["scalars.loss_d"][0]),
           "loss_g": float(scalars["loss_g"]), "loss_g_progan": float(t["scalars.loss_g"][0]),
           **{"rel_err_" + k: v for k, v in errs.items()},
           "worst_grad": worst, "worst_grad_rel_err": grad_errs[worst],
           "G_err": net["G"], "D_err": net["D"], "ok": ok}
    if per_tensor:
        _, f32, _, _ = step_grads(t, meta, torch.float32)
        out["G_err_torch_float32"] = net_err(f32, ref, "G.")
        out["D_err_torch_float32"] = net_err(f32, ref, "D.")
        out["grads"] = {n: {"progan": grad_errs[n], "torch_float32": rel_err(f32[n], g)}
                        for n, g in ref.items()}
    print(json.dumps(out))
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    tp = sub.add_parser("time")
    tp.add_argument("--res", type=int, default=32)
    tp.add_argument("--batch", type=int, default=16)
    tp.add_argument("--fmap-base", type=int, default=8192)
    tp.add_argument("--fmap-max", type=int, default=512)
    tp.add_argument("--fmap-decay", type=float, default=1.0)
    tp.add_argument("--channels", type=int, default=3)
    tp.add_argument("--fading", action="store_true")
    tp.add_argument("--reps", type=int, default=3)
    tp.add_argument("--threads", type=int, default=2)
    cp = sub.add_parser("check")
    cp.add_argument("dump")
    cp.add_argument("--per-tensor", action="store_true",
                    help="also PyTorch float32: each gradient tensor's relative error, both")
    a = ap.parse_args()
    if a.cmd == "check":
        return check(a.dump, a.per_tensor)
    time_steps(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
