"""Optimizer-state surgery: grown parameters keep (remapped) state and training continues."""

import torch
from torch import nn

from regionlab.growth import deepen, widen, widen_kernel


def trained(opt_cls, **kw):
    net = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6), nn.ReLU(), nn.Conv2d(6, 2, 1)
    )
    # Two groups split by ndim, like the engine's weight-decay groups.
    groups = [
        {"params": [p for p in net.parameters() if p.dim() > 1], "weight_decay": 1e-4},
        {"params": [p for p in net.parameters() if p.dim() <= 1], "weight_decay": 0.0},
    ]
    opt = opt_cls(groups, lr=1e-2, **kw)
    for _ in range(2):
        opt.zero_grad()
        net(torch.randn(2, 3, 6, 6)).square().mean().backward()
        opt.step()
    return net, opt


def step(net, opt):
    opt.zero_grad()
    net(torch.randn(2, 3, 6, 6)).square().mean().backward()
    opt.step()


def test_adam_state_follows_widening():
    net, opt = trained(torch.optim.Adam)
    old_in, old_out = net[0].weight, net[3].weight
    s_in, s_out = dict(opt.state[old_in]), dict(opt.state[old_out])
    rec = widen(net, "0", 10, optimizer=opt)
    src, counts = rec.mapping.source, rec.mapping.counts()[rec.mapping.source].float()
    new_in, new_out = net[0].weight, net[3].weight
    assert old_in not in opt.state and new_in in opt.state
    assert any(p is new_in for p in opt.param_groups[0]["params"])
    st_in, st_out = opt.state[new_in], opt.state[new_out]
    assert st_in["exp_avg"].shape == (10, 3, 3, 3) and st_out["exp_avg_sq"].shape == (2, 10, 1, 1)
    assert torch.equal(st_in["exp_avg"], s_in["exp_avg"][src])  # copied rows = originals' rows
    assert torch.equal(st_in["exp_avg_sq"], s_in["exp_avg_sq"][src])
    assert torch.allclose(st_out["exp_avg"], s_out["exp_avg"][:, src] / counts.view(1, -1, 1, 1))
    assert torch.allclose(
        st_out["exp_avg_sq"], s_out["exp_avg_sq"][:, src] / counts.view(1, -1, 1, 1) ** 2
    )
    assert torch.equal(st_in["step"], s_in["step"])
    assert opt.state[net[1].weight]["exp_avg"].shape == (10,)
    step(net, opt)


def test_morphism_new_units_start_with_zero_state():
    net, opt = trained(torch.optim.AdamW)
    rec = widen(net, "0", 9, mode="morphism", optimizer=opt)
    fresh = rec.mapping.fresh
    st = opt.state[net[0].weight]
    assert (st["exp_avg"][fresh] == 0).all() and (st["exp_avg_sq"][fresh] == 0).all()
    assert (opt.state[net[3].weight]["exp_avg"][:, fresh] == 0).all()
    step(net, opt)


def test_sgd_momentum_follows_widening_and_deepening():
    net, opt = trained(torch.optim.SGD, momentum=0.9, nesterov=True)
    old = opt.state[net[0].weight]["momentum_buffer"]
    rec = widen(net, "0", 8, optimizer=opt)
    assert torch.equal(opt.state[net[0].weight]["momentum_buffer"], old[rec.mapping.source])
    deep = deepen(net, "2", optimizer=opt)
    conv_w, bn_w = deep.module[0].weight, deep.module[1].weight
    assert any(p is conv_w for p in opt.param_groups[0]["params"])  # decay group (ndim 4)
    assert any(p is bn_w for p in opt.param_groups[1]["params"])  # plain group (ndim 1)
    widen_kernel(net, "0", 5, optimizer=opt)
    assert opt.state[net[0].weight]["momentum_buffer"].shape == (8, 3, 5, 5)
    n_params = sum(len(g["params"]) for g in opt.param_groups)
    assert n_params == len(list(net.parameters()))
    step(net, opt)
    step(net, opt)
