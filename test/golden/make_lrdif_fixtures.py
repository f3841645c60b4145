#!/usr/bin/env python3
"""Golden fixtures for test/lrdif-model.test.ts: an independent PyTorch implementation of the
LRDif model of docs/LRDIF-SPEC.md (FPEN, dynamic transformer block with DMNet and DGNet,
down/upsample, DTnetwork, DILnetwork window cross-attention with Swin's relative position bias,
fusion ViT, denoiser, diffusion chain, UDCformer, stage-1 and stage-2 forwards and losses).

Run: /usr/bin/python3 test/golden/make_lrdif_fixtures.py   (torch and numpy only)
Writes test/golden/fixtures/lrdif.json; re-running reproduces it byte for byte.

The modules below follow Restormer / DiffIR / POSTER++ / Swin as written in PyTorch (F.normalize,
Swin's window_partition and relative_position_index, nn.MultiheadAttention-free ViT attention)
and are named so that `state_dict()` keys are lrdif's parameter paths. Weights are drawn from a
seeded torch generator (not PyTorch's default init: LayerNorm scales, temperatures and biases are
randomised too, so every parameter matters), rounded to float32 and stored; the TS side loads
them with loadStateDict. Inputs are float32; everything is computed in float64.

For every case the fixture holds the inputs, the outputs, and the gradients of
L = Σ_outputs Σ_i w_i·out_i with w_i = cos(1.3·i + 0.5) (i the flat index within each output)
with respect to the inputs and a few named parameters. Float arrays are base64 float32 (LE).
"""
import base64
import json
import math
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, 'fixtures', 'lrdif.json')
torch.set_default_dtype(torch.float64)

# The test config: lrdif's `tiny` with these overrides (small enough for a unit test, every
# feature map divisible by the 2×2 window: 32² input → F1 8², F2 4², F3 2²).
OVERRIDES = dict(
    numClasses=3, clipDim=6, imageSize=32, fpenHidden=12, priorDim=8,
    dim=2, blocks=[1, 1, 1, 1], heads=[1, 1, 2, 2], decoderBlocks=1,
    landmarkChannels=[5, 6, 7], dilDims=[8, 8, 12], dilHeads=[2, 2, 3], dilMlpRatio=2, window=2,
    embedDim=12, fusionDepth=2, fusionHeads=2, fusionMlpRatio=2,
    denoiserWidth=16, denoiserDepth=1, timesteps=4,
)
CFG = dict(
    leakySlope=0.1, ffnExpansion=2.66, layerNormEps=1e-5, betaStart=0.1, betaEnd=0.99,
    betaSchedule='sqrtLinear', parameterisation='eps', insertNoise=True, diffusion=True,
    lambdaKl=1.0, tau=1.0, lambdaL1=0.0, labelSmoothing=0.0, **OVERRIDES,
)
B = 2


# ----------------------------------------------------------------------------- modules

class Fpen(nn.Module):
    def __init__(self, i, h, o, slope):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(i, h), nn.Linear(h, h), nn.Linear(h, o))
        self.slope = slope

    def forward(self, x):
        x = F.leaky_relu(self.layers[0](x), self.slope)
        x = F.leaky_relu(self.layers[1](x), self.slope)
        return self.layers[2](x)


class ChannelLN(nn.Module):
    """Restormer's WithBias_LayerNorm over the channels of each pixel."""

    def __init__(self, c, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(c))
        self.bias = nn.Parameter(torch.zeros(c))
        self.eps = eps

    def forward(self, x):
        mu = x.mean(1, keepdim=True)
        var = x.var(1, keepdim=True, unbiased=False)
        return (x - mu) / torch.sqrt(var + self.eps) * self.weight[None, :, None, None] + self.bias[None, :, None, None]


class Modulation(nn.Module):
    """DiffIR: k = kernel(z) → k1, k2 = chunk(2); x·k1 + k2."""

    def __init__(self, C, w):
        super().__init__()
        self.kernel = nn.Linear(C, 2 * w, bias=False)

    def forward(self, x, z):
        k = self.kernel(z).view(x.shape[0], -1, 1, 1)
        k1, k2 = k.chunk(2, dim=1)
        return x * k1 + k2


class DMNet(nn.Module):
    """Restormer's Attention (MDTA) with DiffIR's modulation."""

    def __init__(self, w, heads, C):
        super().__init__()
        self.heads = heads
        self.mod = Modulation(C, w)
        self.qkv = nn.Conv2d(w, 3 * w, 1, bias=False)
        self.qkvDw = nn.Conv2d(3 * w, 3 * w, 3, padding=1, groups=3 * w, bias=False)
        self.temperature = nn.Parameter(torch.ones(heads))
        self.projOut = nn.Conv2d(w, w, 1, bias=False)

    def forward(self, x, z):
        b, c, h, wd = x.shape
        x = self.mod(x, z)
        q, k, v = self.qkvDw(self.qkv(x)).chunk(3, dim=1)
        q = q.reshape(b, self.heads, c // self.heads, h * wd)
        k = k.reshape(b, self.heads, c // self.heads, h * wd)
        v = v.reshape(b, self.heads, c // self.heads, h * wd)
        q = F.normalize(q, dim=-1)
        k = F.normalize(k, dim=-1)
        attn = (q @ k.transpose(-2, -1)) * self.temperature.view(1, -1, 1, 1)
        out = attn.softmax(dim=-1) @ v
        return self.projOut(out.reshape(b, c, h, wd))


class DGNet(nn.Module):
    """Restormer's FeedForward (GDFN) with DiffIR's modulation."""

    def __init__(self, w, expansion, C):
        super().__init__()
        h = int(w * expansion)
        self.mod = Modulation(C, w)
        self.projIn = nn.Conv2d(w, 2 * h, 1, bias=False)
        self.dw = nn.Conv2d(2 * h, 2 * h, 3, padding=1, groups=2 * h, bias=False)
        self.projOut = nn.Conv2d(h, w, 1, bias=False)

    def forward(self, x, z):
        x1, x2 = self.dw(self.projIn(self.mod(x, z))).chunk(2, dim=1)
        return self.projOut(F.gelu(x1) * x2)


class Block(nn.Module):
    def __init__(self, w, heads, C, expansion, eps):
        super().__init__()
        self.norm1 = ChannelLN(w, eps)
        self.attn = DMNet(w, heads, C)
        self.norm2 = ChannelLN(w, eps)
        self.ffn = DGNet(w, expansion, C)

    def forward(self, x, z):
        x = x + self.attn(self.norm1(x), z)
        return x + self.ffn(self.norm2(x), z)


class Down(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c // 2, 3, padding=1, bias=False)

    def forward(self, x):
        return F.pixel_unshuffle(self.conv(x), 2)


class Up(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, 2 * c, 3, padding=1, bias=False)

    def forward(self, x):
        return F.pixel_shuffle(self.conv(x), 2)


def stage(n, w, h, c):
    return nn.ModuleList([Block(w, h, c['priorDim'], c['ffnExpansion'], c['layerNormEps']) for _ in range(n)])


def run_stage(blocks, x, z):
    for b in blocks:
        x = b(x, z)
    return x


class DTNetwork(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, bl, hd = c['dim'], c['blocks'], c['heads']
        self.stem = nn.Conv2d(3, d, 3, stride=2, padding=1, bias=False)
        self.encoder1 = stage(bl[0], d, hd[0], c)
        self.down1 = Down(d)
        self.encoder2 = stage(bl[1], 2 * d, hd[1], c)
        self.down2 = Down(2 * d)
        self.encoder3 = stage(bl[2], 4 * d, hd[2], c)
        self.down3 = Down(4 * d)
        self.latent = stage(bl[3], 8 * d, hd[3], c)
        self.up3 = Up(8 * d)
        self.reduce3 = nn.Conv2d(8 * d, 4 * d, 1, bias=False)
        self.decoder3 = stage(c['decoderBlocks'], 4 * d, hd[2], c)
        self.up2 = Up(4 * d)
        self.reduce2 = nn.Conv2d(4 * d, 2 * d, 1, bias=False)
        self.decoder2 = stage(c['decoderBlocks'], 2 * d, hd[1], c)

    def forward(self, x, z):
        e1 = run_stage(self.encoder1, self.stem(x), z)
        e2 = run_stage(self.encoder2, self.down1(e1), z)
        e3 = run_stage(self.encoder3, self.down2(e2), z)
        f3 = run_stage(self.latent, self.down3(e3), z)
        d3 = run_stage(self.decoder3, self.reduce3(torch.cat([self.up3(f3), e3], 1)), z)
        d2 = run_stage(self.decoder2, self.reduce2(torch.cat([self.up2(d3), e2], 1)), z)
        return d2, d3, f3


def window_partition(x, ws):
    """Swin: x [B, H, W, C] → [B·nW, ws, ws, C]."""
    b, h, w, c = x.shape
    x = x.view(b, h // ws, ws, w // ws, ws, c)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, ws, ws, c)


def window_reverse(windows, ws, h, w):
    b = int(windows.shape[0] / (h * w / ws / ws))
    x = windows.view(b, h // ws, w // ws, ws, ws, -1)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(b, h, w, -1)


def swin_relative_position_index(ws):
    coords = torch.stack(torch.meshgrid([torch.arange(ws), torch.arange(ws)], indexing='ij'))
    flat = torch.flatten(coords, 1)
    rel = (flat[:, :, None] - flat[:, None, :]).permute(1, 2, 0).contiguous()
    rel[:, :, 0] += ws - 1
    rel[:, :, 1] += ws - 1
    rel[:, :, 0] *= 2 * ws - 1
    return rel.sum(-1)


class Mlp(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.fc1 = nn.Linear(d, h)
        self.fc2 = nn.Linear(h, d)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class DilScale(nn.Module):
    def __init__(self, cf, cl, D, heads, ws, ratio):
        super().__init__()
        self.heads, self.ws, self.D = heads, ws, D
        self.normKv = nn.LayerNorm(cf)
        self.q = nn.Linear(cl, D)
        self.kv = nn.Linear(cf, 2 * D)
        self.relBias = nn.Parameter(torch.zeros((2 * ws - 1) ** 2, heads))
        self.out = nn.Linear(D, D)
        self.proj = nn.Linear(cf, D)
        self.normMlp = nn.LayerNorm(D)
        self.mlp = Mlp(D, int(D * ratio))
        self.register_buffer('rel_index', swin_relative_position_index(ws), persistent=False)

    def forward(self, f, l):
        b, _, h, w = f.shape
        ws, n, hd = self.ws, self.ws * self.ws, self.heads
        d = self.D // hd
        fw = window_partition(f.permute(0, 2, 3, 1), ws).view(-1, n, f.shape[1])
        lw = window_partition(l.permute(0, 2, 3, 1), ws).view(-1, n, l.shape[1])
        bw = fw.shape[0]
        q = self.q(lw).reshape(bw, n, hd, d).permute(0, 2, 1, 3) * (d ** -0.5)
        kv = self.kv(self.normKv(fw)).reshape(bw, n, 2, hd, d).permute(2, 0, 3, 1, 4)
        k, v = kv[0], kv[1]
        attn = q @ k.transpose(-2, -1)
        bias = self.relBias[self.rel_index.view(-1)].view(n, n, -1).permute(2, 0, 1)
        attn = (attn + bias.unsqueeze(0)).softmax(-1)
        o = self.out((attn @ v).transpose(1, 2).reshape(bw, n, self.D))
        x1 = o + self.proj(fw)
        x2 = self.mlp(self.normMlp(x1)) + x1
        return window_reverse(x2.view(-1, ws, ws, self.D), ws, h, w).permute(0, 3, 1, 2)


class DILNetwork(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c['dim']
        widths = [2 * d, 4 * d, 8 * d]
        for i in range(3):
            setattr(self, f'scale{i + 1}', DilScale(widths[i], c['landmarkChannels'][i], c['dilDims'][i], c['dilHeads'][i], c['window'], c['dilMlpRatio']))

    def forward(self, fs, taps):
        return [getattr(self, f'scale{i + 1}')(fs[i], taps[i]) for i in range(3)]


class FAttn(nn.Module):
    def __init__(self, E, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(E, 3 * E)
        self.proj = nn.Linear(E, E)

    def forward(self, x):
        b, n, e = x.shape
        d = e // self.heads
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, d).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = ((q @ k.transpose(-2, -1)) * d ** -0.5).softmax(-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, e))


class FBlock(nn.Module):
    def __init__(self, E, heads, ratio):
        super().__init__()
        self.norm1 = nn.LayerNorm(E)
        self.attn = FAttn(E, heads)
        self.norm2 = nn.LayerNorm(E)
        self.mlp = Mlp(E, int(E * ratio))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class FusionViT(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, E = c['dim'], c['embedDim']
        inC = [w + D for w, D in zip([2 * d, 4 * d, 8 * d], c['dilDims'])]
        side = c['imageSize'] // 16
        self.embed1 = nn.Sequential(nn.Conv2d(inC[0], E, 3, 2, 1), nn.Conv2d(E, E, 3, 2, 1))
        self.embed2 = nn.Conv2d(inC[1], E, 3, 2, 1)
        self.embed3 = nn.Conv2d(inC[2], E, 1)
        self.cls = nn.Parameter(torch.zeros(1, 1, E))
        self.pos = nn.Parameter(torch.zeros(1, 3 * side * side + 1, E))
        self.blocks = nn.Sequential(*[FBlock(E, c['fusionHeads'], c['fusionMlpRatio']) for _ in range(c['fusionDepth'])])
        self.norm = nn.LayerNorm(E)

    def forward(self, fs, dil):
        xs = [torch.cat([f, o], 1) for f, o in zip(fs, dil)]
        maps = [self.embed1(xs[0]), self.embed2(xs[1]), self.embed3(xs[2])]
        toks = [m.flatten(2).transpose(1, 2) for m in maps]
        b = toks[0].shape[0]
        x = torch.cat([self.cls.expand(b, -1, -1)] + toks, 1) + self.pos
        x = self.blocks(x)
        return self.norm(x)[:, 0]


class UDCformer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dt = DTNetwork(c)
        self.dil = DILNetwork(c)
        self.fusion = FusionViT(c)
        self.classifier = nn.Linear(c['embedDim'], c['numClasses'])

    def forward(self, x, taps, z):
        fs = self.dt(x, z)
        return self.classifier(self.fusion(fs, self.dil(fs, taps)))


class Denoiser(nn.Module):
    def __init__(self, C, W, n, slope):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(2 * C + 1, W), *[nn.Linear(W, W) for _ in range(n)], nn.Linear(W, C))
        self.slope = slope

    def forward(self, zt, tfeat, c):
        h = torch.cat([zt, torch.full((zt.shape[0], 1), tfeat), c], 1)
        for layer in self.layers[:-1]:
            h = F.leaky_relu(layer(h), self.slope)
        return self.layers[-1](h)


def schedule(T, start=0.1, end=0.99, kind='sqrtLinear'):
    if kind == 'sqrtLinear':
        betas = torch.linspace(math.sqrt(start), math.sqrt(end), T) ** 2
    else:
        betas = torch.linspace(start, end, T)
    alphas = 1 - betas
    return betas, alphas, torch.cumprod(alphas, 0)


def reverse_chain(den, zT, c, T, param):
    betas, alphas, ab = schedule(T)
    z = zT
    for i in reversed(range(T)):  # i = t − 1
        t = i + 1
        pred = den(z, t / (10 * T), c)
        if param == 'eps':
            z = (z - betas[i] / torch.sqrt(1 - ab[i]) * pred) / torch.sqrt(alphas[i])
        else:
            ab_prev = ab[i - 1] if i > 0 else torch.tensor(1.0)
            c1 = betas[i] * torch.sqrt(ab_prev) / (1 - ab[i])
            c2 = (1 - ab_prev) * torch.sqrt(alphas[i]) / (1 - ab[i])
            z = c1 * pred + c2 * z
    return z


class Lrdif(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.fpenS1 = Fpen(2 * c['clipDim'], c['fpenHidden'], c['priorDim'], c['leakySlope'])
        self.fpenS2 = Fpen(c['clipDim'], c['fpenHidden'], c['priorDim'], c['leakySlope'])
        self.udcformer = UDCformer(c)
        self.denoiser = Denoiser(c['priorDim'], c['denoiserWidth'], c['denoiserDepth'], c['leakySlope'])


# ----------------------------------------------------------------------------- data

gen = torch.Generator().manual_seed(20240201)


def randn(*shape):
    return torch.randn(*shape, generator=gen, dtype=torch.float64)


def f32(t):
    return t.float().double()


def randomise(model):
    with torch.no_grad():
        for name, p in model.named_parameters():
            last = name.split('.')[-1]
            if name.endswith('temperature'):
                v = 0.5 + randn(*p.shape).abs()
            elif last == 'weight' and p.dim() == 1:  # LayerNorm scale
                v = 1 + 0.2 * randn(*p.shape)
            elif last == 'bias':
                v = 0.1 * randn(*p.shape)
            elif last in ('relBias', 'cls', 'pos'):
                v = 0.5 * randn(*p.shape)
            else:
                fan_in = p[0].numel()
                v = randn(*p.shape) / math.sqrt(fan_in)
            p.copy_(f32(v))


def enc(t):
    a = np.ascontiguousarray(t.detach().numpy().astype('<f4'))
    return {'shape': list(t.shape), 'b64': base64.b64encode(a.tobytes()).decode('ascii')}


def wts(t):
    i = torch.arange(t.numel(), dtype=torch.float64)
    return torch.cos(1.3 * i + 0.5).view(t.shape)


def weighted(outs):
    return sum((o * wts(o)).sum() for o in outs)


def leaf(t):
    return t.detach().clone().requires_grad_(True)


def case(inputs, outs, params, model, loss=None):
    """inputs: name → leaf tensor; outs: name → tensor; params: names of model parameters."""
    named = dict(model.named_parameters())
    for p in named.values():
        p.grad = None
    L = loss if loss is not None else weighted(list(outs.values()))
    L.backward()
    grads = {}
    for k, v in inputs.items():
        if v.requires_grad:
            grads[k] = enc(v.grad)
    for k in params:
        grads[k] = enc(named[k].grad)
    return {'inputs': {k: enc(v) for k, v in inputs.items()}, 'outputs': {k: enc(v) for k, v in outs.items()}, 'grads': grads}


def main():
    c = CFG
    model = Lrdif(c)
    randomise(model)
    fx = {'config': OVERRIDES, 'state': {k: enc(v) for k, v in model.state_dict().items()}, 'cases': {}}
    cases = fx['cases']
    S, C, P = c['imageSize'], c['priorDim'], c['clipDim']
    u = model.udcformer
    sides = [S // 4, S // 8, S // 16]

    # FPEN_S1
    x = leaf(f32(randn(B, 2 * P)))
    cases['fpen'] = case({'x': x}, {'out': model.fpenS1(x)}, ['fpenS1.layers.0.weight', 'fpenS1.layers.2.bias'], model)

    # dynamic transformer block (encoder3.0: width 4d, heads 2)
    w3 = 4 * c['dim']
    x = leaf(f32(randn(B, w3, sides[1], sides[1])))
    z = leaf(f32(randn(B, C)))
    pre = 'udcformer.dt.encoder3.0.'
    cases['block'] = case({'x': x, 'z': z}, {'out': u.dt.encoder3[0](x, z)},
                          [pre + n for n in ('norm1.weight', 'attn.mod.kernel.weight', 'attn.qkvDw.weight', 'attn.temperature', 'attn.projOut.weight', 'ffn.dw.weight', 'norm2.bias')], model)

    # downsample / upsample
    x = leaf(f32(randn(B, 2 * c['dim'], sides[0], sides[0])))
    cases['down'] = case({'x': x}, {'out': u.dt.down2(x)}, ['udcformer.dt.down2.conv.weight'], model)
    x = leaf(f32(randn(B, 8 * c['dim'], sides[2], sides[2])))
    cases['up'] = case({'x': x}, {'out': u.dt.up3(x)}, [], model)

    # the images and landmark taps shared by the DTnetwork, UDCformer and stage cases
    ximg = f32(randn(B, 3, S, S))
    taps = [f32(randn(B, lc, s, s)) for lc, s in zip(c['landmarkChannels'], sides)]
    fx['shared'] = {'x': enc(ximg), 'tap1': enc(taps[0]), 'tap2': enc(taps[1]), 'tap3': enc(taps[2])}

    # DTnetwork (gradient of the image in the UDCformer case)
    x = ximg
    z = leaf(f32(randn(B, C)))
    f1, f2, f3 = u.dt(x, z)
    cases['dtnetwork'] = case({'z': z}, {'f1': f1, 'f2': f2, 'f3': f3},
                              ['udcformer.dt.stem.weight', 'udcformer.dt.latent.0.attn.temperature', 'udcformer.dt.reduce2.weight'], model)

    # DIL scales 1 (16 windows, 2 heads) and 3 (1 window, 3 heads)
    for i in (0, 2):
        widths = [2 * c['dim'], 4 * c['dim'], 8 * c['dim']]
        f = leaf(f32(randn(B, widths[i], sides[i], sides[i])))
        l = leaf(f32(randn(B, c['landmarkChannels'][i], sides[i], sides[i])))
        sc = getattr(u.dil, f'scale{i + 1}')
        pre = f'udcformer.dil.scale{i + 1}.'
        cases[f'dil{i + 1}'] = case({'f': f, 'l': l}, {'out': sc(f, l)},
                                    [pre + n for n in ('relBias', 'q.weight', 'kv.bias', 'normKv.weight', 'proj.weight', 'mlp.fc1.weight', 'normMlp.bias')], model)

    # fusion ViT + classifier
    fs = [leaf(f32(randn(B, wd, s, s))) for wd, s in zip([2 * c['dim'], 4 * c['dim'], 8 * c['dim']], sides)]
    ds = [leaf(f32(randn(B, D, s, s))) for D, s in zip(c['dilDims'], sides)]
    logits = u.classifier(u.fusion(fs, ds))
    cases['fusion'] = case({'f1': fs[0], 'f2': fs[1], 'f3': fs[2], 'd1': ds[0], 'd2': ds[1], 'd3': ds[2]}, {'logits': logits},
                           ['udcformer.fusion.cls', 'udcformer.fusion.pos', 'udcformer.fusion.embed1.1.bias', 'udcformer.fusion.embed3.weight', 'udcformer.fusion.blocks.0.attn.qkv.weight',
                            'udcformer.fusion.blocks.1.mlp.fc2.bias', 'udcformer.fusion.norm.weight', 'udcformer.classifier.weight'], model)

    # denoiser at t = 3 of T = 4
    zt = leaf(f32(randn(B, C)))
    cc = leaf(f32(randn(B, C)))
    cases['denoiser'] = case({'zt': zt, 'c': cc}, {'out': model.denoiser(zt, 3 / 40, cc)}, ['denoiser.layers.0.weight', 'denoiser.layers.1.bias'], model)

    # diffusion chains: c = FPEN_S2(eImg); Z_T from insert noise (eps and x0) or ε alone
    betas, _, ab = schedule(4)
    fx['schedule'] = {'T4': [float(b) for b in betas], 'T32': [float(b) for b in schedule(32)[0]], 'T1': [float(b) for b in schedule(1)[0]],
                      'T8linear': [float(b) for b in schedule(8, kind='linear')[0]]}
    zT_target = f32(randn(B, C))
    noise = f32(randn(B, C))
    for name, param, insert in (('chainEps', 'eps', True), ('chainX0', 'x0', True), ('chainNoInsert', 'eps', False)):
        e = leaf(f32(randn(B, P)))
        cvec = model.fpenS2(e)
        zT = torch.sqrt(ab[-1]) * zT_target + torch.sqrt(1 - ab[-1]) * noise if insert else noise
        zhat = reverse_chain(model.denoiser, zT, cvec, 4, param)
        r = case({'eImg': e}, {'zHat': zhat}, ['denoiser.layers.0.weight', 'denoiser.layers.2.weight', 'fpenS2.layers.0.weight'], model)
        r['inputs']['zTarget'] = enc(zT_target)
        r['inputs']['noise'] = enc(noise)
        cases[name] = r

    # whole UDCformer
    x = leaf(ximg)
    tl = [leaf(t) for t in taps]
    z = leaf(f32(randn(B, C)))
    r = case({'x': x, 'tap1': tl[0], 'tap2': tl[1], 'tap3': tl[2], 'z': z}, {'logits': u(x, tl, z)},
                              ['udcformer.dt.stem.weight', 'udcformer.dt.encoder1.0.attn.temperature', 'udcformer.dil.scale2.relBias',
                               'udcformer.fusion.pos', 'udcformer.classifier.weight'], model)
    r['inputs'] = {'z': r['inputs']['z']}
    cases['udcformer'] = r

    # stage 1: loss = CE (label smoothing 0.1) of UDCformer(x, taps, FPEN_S1([e_txt, e_img]))
    x = ximg
    eImg = leaf(f32(randn(B, P)))
    eTxt = f32(randn(B, P))
    labels = torch.tensor([2, 0])
    zS1 = model.fpenS1(torch.cat([eTxt, eImg], 1))
    logits = u(x, taps, zS1)
    loss = F.cross_entropy(logits, labels, label_smoothing=0.1)
    r = case({'eImg': eImg}, {'logits': logits, 'z': zS1, 'loss': loss.reshape(1)},
             ['fpenS1.layers.0.weight', 'udcformer.dt.stem.weight', 'udcformer.classifier.bias'], model, loss=loss)
    r['inputs'].update({'eTxt': enc(eTxt)})
    r['labels'] = labels.tolist()
    r['labelSmoothing'] = 0.1
    cases['stage1'] = r

    # stage 2: FPEN_S1 frozen; Z = FPEN_S1([e_txt, e_img]) detached; chain with insert noise;
    # loss = CE + λ_kl·KL(softmax(Z/τ) ‖ softmax(Ẑ₀/τ)) (batchmean) + λ_l1·mean|Z − Ẑ₀|
    for name, lkl, ll1, tau, diffusion in (('stage2', 1.0, 0.5, 2.0, True), ('stage2NoDiffusion', 1.0, 0.0, 1.0, False)):
        for p in model.fpenS1.parameters():
            p.requires_grad_(False)
        with torch.no_grad():
            zTarget = model.fpenS1(torch.cat([eTxt, eImg.detach()], 1))
        cvec = model.fpenS2(eImg.detach())
        if diffusion:
            zT = torch.sqrt(ab[-1]) * zTarget + torch.sqrt(1 - ab[-1]) * noise
            zhat = reverse_chain(model.denoiser, zT, cvec, 4, 'eps')
        else:
            zhat = cvec
        logits = u(x, taps, zhat)
        ce = F.cross_entropy(logits, labels)
        kl = F.kl_div(F.log_softmax(zhat / tau, -1), F.softmax(zTarget / tau, -1), reduction='batchmean')
        l1 = (zTarget - zhat).abs().mean()
        total = ce + lkl * kl + ll1 * l1
        r = case({}, {'logits': logits, 'zHat': zhat, 'zTarget': zTarget, 'total': total.reshape(1), 'ce': ce.reshape(1), 'kl': kl.reshape(1), 'l1': l1.reshape(1)},
                 ['fpenS2.layers.0.weight', 'udcformer.dt.stem.weight', 'udcformer.classifier.weight'] + (['denoiser.layers.0.weight'] if diffusion else []),
                 model, loss=total)
        r['inputs'].update({'eTxt': enc(eTxt), 'eImg': enc(eImg), 'noise': enc(noise)})
        r['labels'] = labels.tolist()
        r['overrides'] = {'lambdaKl': lkl, 'lambdaL1': ll1, 'tau': tau, 'diffusion': diffusion}
        cases[name] = r
        for p in model.fpenS1.parameters():
            p.requires_grad_(True)

    # parameter counts of the spec's configurations (reference; tiny with its scaled-down widths)
    reference = dict(CFG, numClasses=7, clipDim=512, imageSize=112, fpenHidden=256, priorDim=256, dim=48, blocks=[2, 2, 4, 2],
                     heads=[1, 2, 4, 8], landmarkChannels=[64, 128, 256], dilDims=[64, 128, 256], dilHeads=[2, 4, 8], dilMlpRatio=4,
                     window=7, embedDim=256, fusionDepth=2, fusionHeads=8, fusionMlpRatio=4, denoiserWidth=256, denoiserDepth=1)
    tiny = dict(reference, clipDim=32, fpenHidden=64, priorDim=32, dim=8, blocks=[1, 1, 1, 1], heads=[1, 1, 2, 2],
                dilDims=[16, 32, 32], dilHeads=[1, 2, 2], embedDim=32, fusionDepth=2, fusionHeads=2, denoiserWidth=64)
    fx['paramCounts'] = {}
    for name, cfg in (('reference', reference), ('tiny', tiny)):
        m = Lrdif(cfg)
        counts = {k: sum(p.numel() for p in getattr(m, k).parameters()) for k in ('fpenS1', 'fpenS2', 'udcformer', 'denoiser')}
        counts['total'] = sum(counts.values())
        fx['paramCounts'][name] = counts
        del m

    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, 'w') as fh:
        json.dump(fx, fh, separators=(',', ':'))
        fh.write('\n')
    print(f'wrote {OUT} ({os.path.getsize(OUT)} bytes, {sum(v.numel() for v in model.parameters())} parameters)')


if __name__ == '__main__':
    main()
