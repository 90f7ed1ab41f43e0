# The PyTorch twin of zoomdiff's networks: the engine's safetensors files
# read and written as they are, and the layers of nn/nn.go and the U-Net of
# diffusion/unet.go, each op mirroring engine code named beside it. Tensor
# names and layouts are the engine's ([K,K,Cin,Cout] convolutions, [In,Out]
# linears), so no conversion table exists to drift. Used by
# sr_recipe_peer.py (training on a lent GPU) and torch_peer.py (the
# BenchmarkSRUNetForward64 peer).
import json, math, os, struct
import numpy as np, torch, torch.nn.functional as F

# --- safetensors (engine/safetensors) ---
DT = {'F32': (np.float32, 4), 'F16': (np.float16, 2)}
def read_st(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        head = json.loads(f.read(n)); body = f.read()
    meta = head.pop('__metadata__', {})
    ts = {}
    for k, v in head.items():
        b, e = v['data_offsets']
        ts[k] = (v['dtype'], v['shape'], np.frombuffer(body[b:e], dtype=DT[v['dtype']][0]).reshape(v['shape']))
    return meta, ts

def write_st(path, meta, ts):
    head, off, blobs = {'__metadata__': meta}, 0, []
    for k in sorted(ts):
        dt, shape, arr = ts[k]
        raw = np.ascontiguousarray(arr, dtype=DT[dt][0]).tobytes()
        head[k] = {'dtype': dt, 'shape': list(shape), 'data_offsets': [off, off + len(raw)]}
        blobs.append(raw); off += len(raw)
    h = json.dumps(head, separators=(',', ':')).encode()
    h += b' ' * (-len(h) % 8)
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(h))); f.write(h)
        for b in blobs: f.write(b)
    os.replace(tmp, path)

# --- layers (nn/nn.go) ---
def conv(W, x, name, stride=1):  # x NCHW; engine weight [K,K,Cin,Cout]
    w = W[name + '.w']
    return F.conv2d(x, w.permute(3, 2, 0, 1), W[name + '.b'], stride, (w.shape[0] - 1) // 2)
def linear(W, x, name):
    return x @ W[name + '.w'] + W[name + '.b']
def gn(W, x, name):
    c = x.shape[1]; g = min(32, c)
    while c % g: g -= 1
    return F.group_norm(x, g, W[name + '.gamma'], W[name + '.beta'], 1e-6)
def res(W, x, name, emb=None):
    h = conv(W, F.silu(gn(W, x, name + '.norm1')), name + '.conv1')
    if emb is not None:
        h = h + linear(W, F.silu(emb), name + '.emb')[:, :, None, None]
    h = conv(W, F.silu(gn(W, h, name + '.norm2')), name + '.conv2')
    return (conv(W, x, name + '.skip') if name + '.skip.w' in W else x) + h
def attn(W, x, name, heads):  # engine/tensor/attention.go: head i owns channels [i·d, (i+1)·d)
    N, C, H, Wd = x.shape
    h = gn(W, x, name + '.norm').permute(0, 2, 3, 1).reshape(N, H * Wd, C)
    q, k, v = (linear(W, h, name + s).reshape(N, H * Wd, heads, C // heads).transpose(1, 2) for s in ('.q', '.k', '.v'))
    # Scaling q, not the L×L scores, is the same product for L/d of the
    # work (the engine folds the scale into the GEMM).
    p = torch.softmax((q / math.sqrt(C // heads)) @ k.transpose(-1, -2), -1)
    o = linear(W, (p @ v).transpose(1, 2).reshape(N, H * Wd, C), name + '.out')
    return x + o.reshape(N, H, Wd, C).permute(0, 3, 1, 2)

def timestep_embedding(t, dim):  # engine/tensor/embed.go
    half = dim // 2
    f = torch.exp(-math.log(10000) * torch.arange(half, device=t.device, dtype=torch.float64) / half).float()
    arg = t.float()[:, None] * f[None]
    return torch.cat([torch.cos(arg), torch.sin(arg)], 1)

# --- U-Net (diffusion/unet.go) ---
def unet(U, ucfg, x, t):
    c, mult, nres = ucfg['model_channels'], ucfg['ch_mult'], ucfg['num_res_blocks']
    attn_at, heads = ucfg['attn_downsample'] or [], ucfg['heads']
    emb = linear(U, F.silu(linear(U, timestep_embedding(t, c), 'time.fc0')), 'time.fc1')
    h = conv(U, x, 'conv_in'); hs = [h]
    for lvl in range(len(mult)):
        for i in range(nres):
            h = res(U, h, f'down{lvl}.res{i}', emb)
            if (1 << lvl) in attn_at: h = attn(U, h, f'down{lvl}.attn{i}', heads)
            hs.append(h)
        if lvl < len(mult) - 1:
            h = conv(U, h, f'down{lvl}.downsample', 2); hs.append(h)
    h = res(U, h, 'mid.res0', emb)
    if ucfg['mid_attention']: h = attn(U, h, 'mid.attn', heads)
    h = res(U, h, 'mid.res1', emb)
    for lvl in reversed(range(len(mult))):
        for i in range(nres + 1):
            h = res(U, torch.cat([h, hs.pop()], 1), f'up{lvl}.res{i}', emb)
            if (1 << lvl) in attn_at: h = attn(U, h, f'up{lvl}.attn{i}', heads)
        if lvl > 0:
            h = conv(U, F.interpolate(h, scale_factor=2, mode='nearest'), f'up{lvl}.upsample')
    return conv(U, F.silu(gn(U, h, 'norm_out')), 'conv_out')
