# PyTorch twin of zoomdiff's stage-2 recipe (diffusion/train.go + data.go),
# to train the SR U-Net on a lent GPU when one is available. It reads an SR
# model file written by `zoomdiff train sr` (its config, latent statistics,
# embedded auto-encoder and initial U-Net), trains the U-Net the way the Go
# trainer does (random augmented HR crops, MATLAB-style bicubic LR, LR
# nearest-up-sampled and encoded by the frozen encoder as the condition,
# t ~ U{0..T-1}, L2 on eps or v, Adam + warm-up + cosine to LR/100, gradient
# clipping at 1, EMA), and writes the EMA U-Net back into a copy of that file,
# which the Go engine loads as it is. Tensor names and layouts are the
# engine's ([K,K,Cin,Cout] convolutions, [In,Out] linears), so no conversion
# table exists to drift. Every tensor op mirrors engine code named beside it.
#   python3 bench/sr_recipe_peer.py --init sr.safetensors --train DIR --out out.safetensors
# --check writes the encoder's and U-Net's outputs on a fixed input, for the
# parity check against the engine (see bench/README.md).
import sys, os, glob, math, json, time, struct, argparse
import numpy as np, torch, torch.nn.functional as F
import twin
from twin import read_st, write_st, conv, gn, res, attn

ap = argparse.ArgumentParser()
ap.add_argument('--init', required=True, help='SR model file from zoomdiff train sr (config, AE, initial U-Net)')
ap.add_argument('--train', default='.gpu/train', help='folder of training photos (searched recursively)')
ap.add_argument('--out', default='sr_twin.safetensors')
ap.add_argument('--steps', type=int, default=20000)
ap.add_argument('--minutes', type=float, default=0, help='train for this wall time instead of --steps: the cosine runs over the time')
ap.add_argument('--batch', type=int, default=64)
ap.add_argument('--crop', type=int, default=64)
ap.add_argument('--lr', type=float, default=5e-4)
ap.add_argument('--warmup', type=int, default=200)
ap.add_argument('--ema', type=float, default=0.999)
ap.add_argument('--prediction', default='', help='eps or v (default: the init file\'s)')
ap.add_argument('--save-every', type=float, default=120, help='seconds between writes of --out')
ap.add_argument('--seed', type=int, default=1)
ap.add_argument('--check', default='', help='write parity outputs to this .npz and exit')
a = ap.parse_args()
torch.manual_seed(a.seed)
dev = 'cuda' if torch.cuda.is_available() else 'cpu'
torch.backends.cuda.matmul.allow_tf32 = not a.check
torch.backends.cudnn.allow_tf32 = not a.check

meta, tensors = read_st(a.init)
cfg = json.loads(meta['config'])
ucfg, aecfg = cfg['unet'], cfg['ae']
pred = a.prediction or cfg['prediction']
cfg['prediction'] = pred
P = {k: torch.tensor(v[2].astype(np.float32), device=dev) for k, v in tensors.items()}
U = {k[5:]: P[k].requires_grad_() for k in P if k.startswith('unet.')}
A = {k[3:]: P[k] for k in P if k.startswith('ae.')}

def unet(x, t):
    return twin.unet(U, ucfg, x, t)

# --- frozen encoder (autoencoder/model.go Encode) ---
def encode(x):
    mult = aecfg['ch_mult']
    h = conv(A, x, 'enc.conv_in')
    for lvl in range(len(mult)):
        for i in range(aecfg['num_res_blocks']):
            h = res(A, h, f'enc.down{lvl}.res{i}')
        if lvl < len(mult) - 1: h = conv(A, h, f'enc.down{lvl}.downsample', 2)
    h = res(A, h, 'enc.mid.res0')
    if aecfg['attention']: h = attn(A, h, 'enc.mid.attn', 1)
    h = res(A, h, 'enc.mid.res1')
    z = conv(A, conv(A, F.silu(gn(A, h, 'enc.norm_out')), 'enc.conv_out'), 'enc.quant')
    if aecfg['global_skip']:
        s = F.avg_pool2d(x, 2 ** (len(mult) - 1))
        z = z + torch.cat([s, torch.zeros_like(z[:, 3:])], 1)
    return z

shift = torch.tensor(cfg['latent_shift'], device=dev)[None, :, None, None]
scale = torch.tensor(cfg['latent_scale'], device=dev)[None, :, None, None]
def normalize(z): return (z - shift) * scale

# --- schedule (diffusion/schedule.go) ---
sc = cfg['schedule']; T = sc['steps']
r = np.linspace(math.sqrt(sc['beta_start']), math.sqrt(sc['beta_end']), T)
ab = torch.tensor(np.cumprod(1 - r * r), device=dev)
sab, s1ab = ab.sqrt().float(), (1 - ab).sqrt().float()

K = cfg['scale']
def condition(lr):  # diffusion/sr.go encodeCond
    return normalize(encode(F.interpolate(lr, scale_factor=K, mode='nearest')))

if a.check:
    n, hw = 2, 32
    yy, xx = np.meshgrid(np.arange(hw), np.arange(hw), indexing='ij')
    img = np.stack([0.5 + 0.4 * np.sin(0.3 * xx + 0.7 * ch + 0.2 * yy * (b + 1)) for b in range(n) for ch in range(3)])
    x = torch.tensor(img.reshape(n, 3, hw, hw), dtype=torch.float32, device=dev)
    with torch.no_grad():
        z = encode(x)
        zin = torch.cat([normalize(z), normalize(z).flip(1)], 1)
        eps = unet(zin, torch.tensor([10, 900], device=dev))
    np.savez(a.check, image=img.reshape(n, 3, hw, hw).transpose(0, 2, 3, 1), latent=z.cpu().numpy().transpose(0, 2, 3, 1),
             eps=eps.cpu().numpy().transpose(0, 2, 3, 1))
    sys.exit(0)

# --- data (dataset/dataset.go Crop, diffusion/data.go drawCrop) ---
from PIL import Image
exts = ('.png', '.jpg', '.jpeg', '.bmp')
photos = [torch.from_numpy(np.array(Image.open(p).convert('RGB'))).to(dev)
          for p in sorted(glob.glob(a.train + '/**/*', recursive=True)) if p.lower().endswith(exts)]
photos = [p for p in photos if p.shape[0] >= a.crop and p.shape[1] >= a.crop]
rng = np.random.default_rng(a.seed)
def crops(n):
    out = []
    for _ in range(n):
        p = photos[rng.integers(len(photos))]
        y0, x0 = rng.integers(p.shape[0] - a.crop + 1), rng.integers(p.shape[1] - a.crop + 1)
        c = p[y0:y0 + a.crop, x0:x0 + a.crop].permute(2, 0, 1)
        c = torch.rot90(c, int(rng.integers(4)), (1, 2))
        if rng.integers(2): c = c.flip(2)
        out.append(c)
    hr = torch.stack(out).float() / 255
    lr = F.interpolate(hr, scale_factor=1 / K, mode='bicubic', antialias=True, align_corners=False)
    return hr, lr

params = list(U.values())
opt = torch.optim.Adam(params, lr=a.lr, betas=(0.9, 0.999), eps=1e-8)
ema = [p.detach().clone() for p in params]
def lr_at(s, elapsed):  # engine/optim WarmupCosine
    if s < a.warmup: return a.lr * (s + 1) / a.warmup
    if a.minutes: q = min(1, elapsed / (60 * a.minutes))
    else: q = min(1, (s - a.warmup) / max(1, a.steps - a.warmup))
    lo = a.lr / 100
    return lo + (a.lr - lo) * 0.5 * (1 + math.cos(math.pi * q))

def save(step):
    out = dict(tensors)
    for k, e in zip(U, ema):
        dt, shape, _ = tensors['unet.' + k]
        out['unet.' + k] = (dt, shape, e.cpu().numpy())
    m = dict(meta)
    m['config'] = json.dumps(cfg, separators=(',', ':'))
    m['steps'] = str(step)
    m['training'] = f'{step} steps, batch {a.batch} of {a.crop}x{a.crop} crops, {pred}-prediction, lr {a.lr}, ' \
                    f'PyTorch twin (bench/sr_recipe_peer.py) on {torch.cuda.get_device_name() if dev == "cuda" else "CPU"}, EMA weights'
    write_st(a.out, m, out)

print(f'{len(photos)} photos on {dev}; U-Net {sum(p.numel() for p in params)} parameters; prediction {pred}', flush=True)
t0 = last_save = time.time(); run = 0.0
for step in range(10 ** 9 if a.minutes else a.steps):
    with torch.no_grad():
        hr, lr = crops(a.batch)
        z0, cond = normalize(encode(hr)), condition(lr)
        t = torch.randint(0, T, (a.batch,), device=dev)
        eps = torch.randn_like(z0)
        s1, s2 = sab[t][:, None, None, None], s1ab[t][:, None, None, None]
        zt = s1 * z0 + s2 * eps
        target = eps if pred == 'eps' else s1 * eps - s2 * z0
    loss = F.mse_loss(unet(torch.cat([zt, cond], 1), t), target)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    for g in opt.param_groups: g['lr'] = lr_at(step, time.time() - t0)
    opt.step()
    with torch.no_grad():  # engine/optim/ema.go: debiased, so early averages are not dragged to the init
        b = (1 - a.ema) / (1 - a.ema ** (step + 1))
        torch._foreach_mul_(ema, 1 - b); torch._foreach_add_(ema, [p.detach() for p in params], alpha=b)
    run = 0.98 * run + 0.02 * loss.item() if step else loss.item()
    now = time.time()
    if step % 200 == 0: print(f'step {step} loss {run:.4f} lr {lr_at(step, now - t0):.2e} {now - t0:.0f}s', flush=True)
    if now - last_save > a.save_every: save(step + 1); last_save = now
    if a.minutes and now - t0 > 60 * a.minutes: break
save(step + 1)
print(f'done: {step + 1} steps in {time.time() - t0:.0f}s -> {a.out}', flush=True)
