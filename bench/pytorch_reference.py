#!/usr/bin/env python3
"""PyTorch (CPU) training-step time of the CIFAR ResNets dtprune trains, for the side-by-side
comparison with `dtprune bench train` (BENCHMARKS.md).

Same model as dtprune's `resnet20` / `resnet56` / `resnet18`: 3x3 stem, basic blocks, BatchNorm,
option-B shortcuts (1x1 conv stride 2 + BN where the shape changes), global average pool, one
linear layer; kaiming-normal (fan-out) conv init. Same recipe: SGD with Nesterov momentum 0.9,
weight decay 5e-4, cross-entropy (label smoothing optional), batch 128, NCHW float32. One step =
forward + backward + optimizer step on a batch already in memory (data loading not counted).

    /work/venv-st/bin/python bench/pytorch_reference.py --model resnet20 --steps 30 --repeats 3
"""

import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


ARCHS = {
    "resnet20": ([3, 3, 3], [16, 32, 64]),
    "resnet56": ([9, 9, 9], [16, 32, 64]),
    "resnet18": ([2, 2, 2, 2], [64, 128, 256, 512]),
}


class ResNet(nn.Module):
    def __init__(self, blocks, widths, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        cin = widths[0]
        for s, (n, w) in enumerate(zip(blocks, widths)):
            layer = []
            for b in range(n):
                layer.append(BasicBlock(cin, w, 2 if s > 0 and b == 0 else 1))
                cin = w
            setattr(self, f"layer{s + 1}", nn.Sequential(*layer))
        self.stages = len(blocks)
        self.fc = nn.Linear(cin, classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        for s in range(self.stages):
            x = getattr(self, f"layer{s + 1}")(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=sorted(ARCHS), default="resnet20")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=30, help="timed steps per repeat")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--label-smoothing", type=float, default=0.0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = ResNet(*ARCHS[a.model])
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=a.label_smoothing)
    x = torch.randn(a.batch, 3, 32, 32)
    y = torch.randint(0, 10, (a.batch,))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(3):  # warm-up: allocator, oneDNN primitive caches
        step()
    times = []
    for r in range(a.repeats):
        t = time.perf_counter()
        for _ in range(a.steps):
            step()
        times.append((time.perf_counter() - t) / a.steps)
        print(f"repeat {r}: {times[-1]:.4f} s/step")
    print(
        f"torch {torch.__version__}, {a.model}, batch {a.batch}, {a.threads} threads: "
        f"{min(times):.4f}-{max(times):.4f} s/step, {a.batch / max(times):.0f}-{a.batch / min(times):.0f} images/s"
    )


if __name__ == "__main__":
    main()
