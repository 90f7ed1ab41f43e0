# PyTorch twin of zoomdiff's stage-1 recipe (autoencoder/train.go), for fast
# recipe searches on a GPU: same architecture, initialisation, crops, target
# sizes, queries, L1, Adam + warm-up + cosine, clipping and EMA; Set14
# reconstruction PSNR-Y at 1, 1/2 and 1/4 of the HR size every --evalevery steps.
# Extra switches (--zeroinit, --catz, --declr, --nogn, --normout) are the
# decoder experiments recorded in models/README.md.
#   python3 bench/ae_recipe_peer.py --train DIR --val ../shared/data/val/Set14 --mlponly --latent 16
# It runs on a CPU too (slowly); the model it trains is not saved.
import sys, os, glob, math, json, time, argparse
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F
from PIL import Image

ap = argparse.ArgumentParser()
ap.add_argument('--train', default='.gpu/train', help='folder of training photos (searched recursively)')
ap.add_argument('--val', default='.gpu/val/Set14')
ap.add_argument('--name', default='base')
ap.add_argument('--steps', type=int, default=2000)
ap.add_argument('--lr', type=float, default=1e-3)
ap.add_argument('--queries', type=int, default=2304)
ap.add_argument('--batch', type=int, default=8)
ap.add_argument('--crop', type=int, default=64)
ap.add_argument('--latent', type=int, default=8)
ap.add_argument('--C', type=int, default=64)
ap.add_argument('--mlp', type=int, default=128)
ap.add_argument('--nogn', action='store_true')
ap.add_argument('--normout', action='store_true')
ap.add_argument('--zeroinit', action='store_true')
ap.add_argument('--catz', action='store_true')
ap.add_argument('--declr', type=float, default=1.0)
ap.add_argument('--perimg', action='store_true')  # scale drawn per image
ap.add_argument('--latentprob', type=float, default=0.15)
ap.add_argument('--clip', type=float, default=1.0)
ap.add_argument('--faithful', action='store_true')
ap.add_argument('--mlponly', action='store_true')
ap.add_argument('--evalevery', type=int, default=500)
ap.add_argument('--seed', type=int, default=1)
ap.add_argument('--loss', default='l1')
a = ap.parse_args()
torch.manual_seed(a.seed); rng = np.random.default_rng(a.seed)
dev = 'cuda' if torch.cuda.is_available() else 'cpu'
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False

def load(p):
    return torch.from_numpy(np.array(Image.open(p).convert('RGB'))).to(dev)
exts = ('.png', '.jpg', '.jpeg', '.bmp')
photos = [load(p) for p in sorted(glob.glob(a.train + '/**/*', recursive=True)) if p.lower().endswith(exts)]
photos = [p for p in photos if p.shape[0] >= a.crop and p.shape[1] >= a.crop]
val = [load(p) for p in sorted(glob.glob(a.val + '/*')) if p.lower().endswith(exts)]

def GN(c):
    if a.nogn: return nn.Identity()
    g = min(32, c)
    while c % g: g -= 1
    return nn.GroupNorm(g, c, eps=1e-6)

class Res(nn.Module):
    def __init__(s, cin, cout, zero=False):
        super().__init__()
        s.n1, s.c1, s.n2, s.c2 = GN(cin), nn.Conv2d(cin, cout, 3, 1, 1), GN(cout), nn.Conv2d(cout, cout, 3, 1, 1)
        if zero: nn.init.zeros_(s.c2.weight); nn.init.zeros_(s.c2.bias)
        s.sk = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()
    def forward(s, x):
        h = s.c1(F.silu(s.n1(x))); h = s.c2(F.silu(s.n2(h)))
        return s.sk(x) + h

skip = not a.faithful
class AE(nn.Module):
    def __init__(s):
        super().__init__()
        C, mult, L = a.C, [1, 2, 2], a.latent
        s.ein = nn.Conv2d(3, C, 3, 1, 1)
        layers, w = [], C
        for i, m in enumerate(mult):
            layers.append(Res(w, C * m)); w = C * m
            if i < len(mult) - 1: layers.append(nn.Conv2d(w, w, 3, 2, 1))
        layers += [Res(w, w), Res(w, w), GN(w), nn.SiLU(), nn.Conv2d(w, L, 3, 1, 1)]
        s.enc = nn.Sequential(*layers)
        s.quant = nn.Conv2d(L, L, 1)
        if skip: nn.init.zeros_(s.quant.weight); nn.init.zeros_(s.quant.bias)
        top = w
        if a.mlponly:
            s.dec = nn.Identity(); feat = L
        else:
            d = [nn.Conv2d(L, L, 1), nn.Conv2d(L, top, 3, 1, 1), Res(top, top, a.zeroinit), Res(top, top, a.zeroinit)]
            w = top
            for m in reversed(mult):
                for _ in range(2): d.append(Res(w, C * m, a.zeroinit)); w = C * m
            if a.normout: d += [GN(w), nn.SiLU()]
            s.decnet = nn.Sequential(*d); feat = w + (L if a.catz else 0)
            s.dec = (lambda z: torch.cat([s.decnet(z), z], 1)) if a.catz else s.decnet
        ml, i = [], feat + 4
        for _ in range(3): ml += [nn.Linear(i, a.mlp), nn.ReLU()]; i = a.mlp
        last = nn.Linear(i, 3)
        if skip: nn.init.zeros_(last.weight); nn.init.zeros_(last.bias)
        s.mlp = nn.Sequential(*ml, last)
    def encode(s, x):  # x NCHW in [0,1]
        z = s.quant(s.enc(s.ein(x)))
        if skip:
            ad = F.avg_pool2d(x, 4)
            z = z + torch.cat([ad, torch.zeros_like(z[:, 3:])], 1)
        return z
    def query(s, z, f, ys, xs, cell):
        # z,f NCHW; ys,xs [B,Q]; cell [B] (2/outsize). returns [B,Q,3]
        B, C, H, W = f.shape
        ff = f.permute(0, 2, 3, 1).reshape(B, H * W, C)
        eps = 1e-6
        def pick(c, v, n):
            sh = (c + v / n + eps).clamp(-1 + eps, 1 - eps)
            i = torch.floor((sh + 1) * n / 2).long().clamp(0, n - 1)
            return i, (c - (-1 + (2 * i + 1) / n)) * n
        iy = [pick(ys, v, H) for v in (-1, 1)]
        ix = [pick(xs, v, W) for v in (-1, 1)]
        preds, areas = [], []
        for sy in range(2):
            for sx in range(2):
                idx = iy[sy][0] * W + ix[sx][0]
                g = torch.gather(ff, 1, idx.unsqueeze(-1).expand(-1, -1, C))
                geo = torch.stack([iy[sy][1], ix[sx][1], (cell * H)[:, None].expand_as(ys), (cell * W)[:, None].expand_as(ys)], -1)
                preds.append(s.mlp(torch.cat([g, geo], -1)))
                areas.append((iy[sy][1].abs() + 1e-9) * (ix[sx][1].abs() + 1e-9))
        tot = sum(areas)
        out = sum(p * (areas[3 - k] / tot)[..., None] for k, p in enumerate(preds))
        if skip: out = out + bicubic(z[:, :3], ys, xs)
        return out

def cubic(t, A=-0.5):
    t = t.abs()
    return torch.where(t <= 1, (A + 2) * t**3 - (A + 3) * t**2 + 1, torch.where(t < 2, A * t**3 - 5 * A * t**2 + 8 * A * t - 4 * A, torch.zeros_like(t)))

def bicubic(x, ys, xs):
    B, C, H, W = x.shape
    xf = x.permute(0, 2, 3, 1).reshape(B, H * W, C)
    u = (ys + 1) * H / 2 - 0.5; v = (xs + 1) * W / 2 - 0.5
    u0, v0 = torch.floor(u), torch.floor(v)
    out = 0
    for dy in range(-1, 3):
        iy = (u0 + dy).clamp(0, H - 1).long(); wy = cubic(u - (u0 + dy))
        for dx in range(-1, 3):
            ix = (v0 + dx).clamp(0, W - 1).long(); wx = cubic(v - (v0 + dx))
            g = torch.gather(xf, 1, (iy * W + ix).unsqueeze(-1).expand(-1, -1, C))
            out = out + g * (wy * wx)[..., None]
    return out

def resize(x, h, w):  # NCHW
    if x.shape[-2] == h and x.shape[-1] == w: return x
    return F.interpolate(x, size=(h, w), mode='bicubic', align_corners=False, antialias=True)

def grid(h, w):
    yy = -1 + (2 * torch.arange(h, device=dev) + 1) / h
    xx = -1 + (2 * torch.arange(w, device=dev) + 1) / w
    Y, X = torch.meshgrid(yy, xx, indexing='ij')
    return Y.reshape(1, -1), X.reshape(1, -1)

def crop():
    p = photos[rng.integers(len(photos))]
    y0 = rng.integers(p.shape[0] - a.crop + 1); x0 = rng.integers(p.shape[1] - a.crop + 1)
    c = p[y0:y0 + a.crop, x0:x0 + a.crop].permute(2, 0, 1).float() / 255
    if rng.integers(2): c = c.flip(-1)
    return torch.rot90(c, int(rng.integers(4)), (1, 2))

def draw_s():
    lat = a.crop // 4
    if rng.random() < a.latentprob: return lat
    return int(min(max(round(lat * math.exp(rng.random() * math.log(4))), lat), a.crop))

def batch():
    x = torch.stack([crop() for _ in range(a.batch)])
    ss = [draw_s() for _ in range(a.batch)] if a.perimg else [draw_s()] * a.batch
    Ys, Xs, T, cells = [], [], [], []
    for i in range(a.batch):
        s = ss[i]; t = resize(x[i:i + 1], s, s)[0].reshape(3, -1).t()
        q = min(a.queries, s * s)
        perm = torch.from_numpy(rng.permutation(s * s)[:q]).to(dev)
        gy, gx = grid(s, s)
        Ys.append(gy[0, perm]); Xs.append(gx[0, perm]); T.append(t[perm]); cells.append(2 / s)
    q = min(len(t) for t in T)
    return x, torch.stack([y[:q] for y in Ys]), torch.stack([v[:q] for v in Xs]), torch.stack([t[:q] for t in T]), torch.tensor(cells, device=dev)

def ycc(img):  # [...,3] in [0,1] -> Y in [16,235]/255 scale
    return (16 + 65.481 * img[..., 0] + 128.553 * img[..., 1] + 24.966 * img[..., 2]) / 255

@torch.no_grad()
def evaluate(m):
    res = {}
    for frac in (1, 2, 4):
        ps = []
        for hr in val:
            H, W = hr.shape[0] // 4 * 4, hr.shape[1] // 4 * 4
            x = hr[:H, :W].permute(2, 0, 1)[None].float() / 255
            z = m.encode(x); f = m.dec(z)
            h, w = H // frac, W // frac
            tgt = resize(x, h, w).clamp(0, 1)[0].permute(1, 2, 0)
            gy, gx = grid(h, w)
            outs = [m.query(z, f, gy[:, i:i + 65536], gx[:, i:i + 65536], torch.tensor([2 / h], device=dev)) for i in range(0, h * w, 65536)]
            out = torch.cat(outs, 1)[0].reshape(h, w, 3).clamp(0, 1)
            out = torch.round(out * 255) / 255
            sh = max(1, 4 // frac)
            d = (ycc(out) - ycc(tgt))[sh:-sh, sh:-sh]
            ps.append(10 * math.log10(1 / d.pow(2).mean().item()))
        res[frac] = round(sum(ps) / len(ps), 2)
    return res

m = AE().to(dev)
ema = AE().to(dev); ema.load_state_dict(m.state_dict())
dp = set(id(p) for p in m.decnet.parameters()) if hasattr(m, 'decnet') else set()
opt = torch.optim.Adam([{'params': [p for p in m.parameters() if id(p) not in dp], 'mult': 1.0}, {'params': [p for p in m.parameters() if id(p) in dp], 'mult': a.declr}], lr=a.lr, betas=(0.9, 0.999), eps=1e-8)
def lr_at(s):
    if s < 200: return a.lr * (s + 1) / 200
    p = (s - 200) / max(1, a.steps - 200)
    return 1e-5 + (a.lr - 1e-5) * 0.5 * (1 + math.cos(math.pi * p))
print(a.name, 'step 0', evaluate(m), flush=True)
t0 = time.time(); lsum = 0
for step in range(a.steps):
    for g in opt.param_groups: g['lr'] = lr_at(step) * g['mult']
    x, ys, xs, tgt, cell = batch()
    z = m.encode(x); pred = m.query(z, m.dec(z), ys, xs, cell)
    loss = (pred - tgt).abs().mean() if a.loss == 'l1' else (pred - tgt).pow(2).mean()
    opt.zero_grad(); loss.backward()
    if a.clip > 0: torch.nn.utils.clip_grad_norm_(m.parameters(), a.clip)
    opt.step(); lsum += loss.item()
    d = min(0.999, (1 + step) / (10 + step))
    with torch.no_grad():
        for pe, pm in zip(ema.parameters(), m.parameters()): pe.mul_(d).add_(pm, alpha=1 - d)
    if (step + 1) % a.evalevery == 0:
        print(a.name, 'step', step + 1, 'loss %.4f' % (lsum / a.evalevery), 'raw', evaluate(m), 'ema', evaluate(ema), '%.0fs' % (time.time() - t0), flush=True)
        lsum = 0
