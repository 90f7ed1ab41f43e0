# PyTorch half of the stage-1 learning-speed parity check (see autoencoder/parity_test.go):
# the same architecture (C = 32, global skip) fits the same four 48x48 crops, and the L1 loss
# every 20 steps is printed. Run: ZOOMDIFF_PARITY=/tmp/crops.bin go test -run OverfitParity -v ./autoencoder
# then /usr/bin/python3 bench/ae_overfit_peer.py /tmp/crops.bin
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F, sys
torch.set_num_threads(2); torch.manual_seed(0)
B,P=4,48
x=torch.from_numpy(np.fromfile(sys.argv[1] if len(sys.argv)>1 else '/tmp/crops.bin',dtype=np.float32).reshape(B,P,P,3)).permute(0,3,1,2).contiguous()
C=32
def gn(c): 
    g=min(32,c)
    while c%g: g-=1
    return nn.GroupNorm(g,c,eps=1e-6)
class Res(nn.Module):
    def __init__(s,ci,co):
        super().__init__(); s.n1=gn(ci); s.c1=nn.Conv2d(ci,co,3,1,1); s.n2=gn(co); s.c2=nn.Conv2d(co,co,3,1,1)
        nn.init.zeros_(s.c2.weight); nn.init.zeros_(s.c2.bias)
        s.sk=nn.Conv2d(ci,co,1) if ci!=co else None
    def forward(s,x):
        h=s.c2(F.silu(s.n2(s.c1(F.silu(s.n1(x))))))
        return (s.sk(x) if s.sk is not None else x)+h
class AE(nn.Module):
    def __init__(s):
        super().__init__()
        s.enc=nn.Sequential(nn.Conv2d(3,C,3,1,1),Res(C,C),nn.Conv2d(C,C,3,2,1),Res(C,2*C),nn.Conv2d(2*C,2*C,3,2,1),Res(2*C,2*C),Res(2*C,2*C),Res(2*C,2*C),gn(2*C),nn.SiLU(),nn.Conv2d(2*C,8,3,1,1))
        s.quant=nn.Conv2d(8,8,1); nn.init.zeros_(s.quant.weight); nn.init.zeros_(s.quant.bias)
        s.dec=nn.Sequential(nn.Conv2d(8,8,1),nn.Conv2d(8,2*C,3,1,1),Res(2*C,2*C),Res(2*C,2*C),Res(2*C,2*C),Res(2*C,2*C),Res(2*C,2*C),Res(2*C,2*C),Res(2*C,C),Res(C,C))
        s.mlp=nn.Sequential(nn.Linear(C+4,128),nn.ReLU(),nn.Linear(128,128),nn.ReLU(),nn.Linear(128,128),nn.ReLU(),nn.Linear(128,3))
        nn.init.zeros_(s.mlp[-1].weight); nn.init.zeros_(s.mlp[-1].bias)
    def forward(s,x,S):
        skip=F.avg_pool2d(x,4)
        z=s.quant(s.enc(x)); z=z+torch.cat([skip,torch.zeros_like(z[:,3:])],1)
        f=s.dec(z); h=f.shape[-1]
        c=(torch.arange(S,dtype=torch.float32)*2+1)/S-1
        qy,qx=torch.meshgrid(c,c,indexing='ij'); q=torch.stack([qy,qx],-1).view(1,-1,2).expand(B,-1,-1)  # (y,x)
        preds=[];areas=[]
        for vy in (-1,1):
            for vx in (-1,1):
                qs=q.clone(); qs[...,0]+=vy/h+1e-6; qs[...,1]+=vx/h+1e-6; qs=qs.clamp(-1+1e-6,1-1e-6)
                grid=qs.flip(-1).unsqueeze(1)
                fv=F.grid_sample(f,grid,mode='nearest',align_corners=False)[:,:,0].permute(0,2,1)
                centres=(torch.arange(h,dtype=torch.float32)*2+1)/h-1
                cgrid=torch.stack(torch.meshgrid(centres,centres,indexing='ij'),0).unsqueeze(0).expand(B,-1,-1,-1)
                cv=F.grid_sample(cgrid,grid,mode='nearest',align_corners=False)[:,:,0].permute(0,2,1)  # the chosen cell's centre
                rel=(q-cv)*h
                inp=torch.cat([fv,rel,torch.full_like(rel,2/S*h)],-1)
                preds.append(s.mlp(inp)); areas.append((rel[...,0]*rel[...,1]).abs()+1e-9)
        tot=sum(areas); areas=areas[::-1]
        out=sum(p*(a/tot).unsqueeze(-1) for p,a in zip(preds,areas))
        sk=F.grid_sample(z[:,:3],q.flip(-1).unsqueeze(1),mode='bicubic',align_corners=False,padding_mode='border')[:,:,0].permute(0,2,1)
        return out+sk
for lr in (1e-3,1e-4):
    torch.manual_seed(0); m=AE(); opt=torch.optim.Adam(m.parameters(),lr=lr)
    tgt=x.permute(0,2,3,1).reshape(B,-1,3)
    for step in range(81):
        loss=(m(x,P)-tgt).abs().mean()
        opt.zero_grad(); loss.backward(); opt.step()
        if step%20==0: print(f"torch lr{lr} step {step} loss {loss.item():.5f}",flush=True)
