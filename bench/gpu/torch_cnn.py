"""The paper's CNN in PyTorch, one epoch on MNIST on the GPU: the reference
a user would otherwise pick, run by bench/gpu/check.sh next to wgsl-nn on
the same GPU. Same model as wgsl-nn's PAPER_CNN (conv 32 4x4 ReLU, max-pool
2, conv 64 3x3 ReLU, max-pool 2, flatten, dropout 0.25, dense 10 softmax,
valid padding), Adam at Keras's defaults, batch 128, the data on the GPU up
front (as wgsl-nn keeps it), timed with CUDA synchronisation.

    python3 torch_cnn.py --data DIR --batch-size 128 --json out.json
"""

import argparse
import json
import struct
import time

import numpy as np
import torch
from torch import nn


def read_idx(path):
    with open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    dims = magic & 0xFF
    shape = struct.unpack(">" + "I" * dims, data[4 : 4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def paper_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 32, 4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.25), nn.Linear(1600, 10),
    )


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--json", required=True)
    args = p.parse_args()
    dev = torch.device("cuda")
    torch.manual_seed(1)
    load = lambda name: torch.from_numpy(read_idx(f"{args.data}/{name}").copy())
    x = (load("train-images-idx3-ubyte").float() / 255).unsqueeze(1).to(dev)
    y = load("train-labels-idx1-ubyte").long().to(dev)
    xt = (load("t10k-images-idx3-ubyte").float() / 255).unsqueeze(1).to(dev)
    yt = load("t10k-labels-idx1-ubyte").long().to(dev)
    model = paper_cnn().to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()

    def epoch():
        model.train()
        perm = torch.randperm(x.shape[0], device=dev)
        for i in range(0, x.shape[0], args.batch_size):
            idx = perm[i : i + args.batch_size]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
        return loss

    # Warm-up on a few batches (cuDNN picks its algorithms), then a fresh model.
    warm = x[: 4 * args.batch_size]
    for i in range(0, warm.shape[0], args.batch_size):
        loss_fn(model(warm[i : i + args.batch_size]), y[i : i + args.batch_size]).backward()
    model = paper_cnn().to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    last = epoch()
    torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    model.eval()
    with torch.no_grad():
        correct = sum(
            (model(xt[i : i + 1000]).argmax(1) == yt[i : i + 1000]).sum().item()
            for i in range(0, xt.shape[0], 1000)
        )
    result = {
        "library": f"torch {torch.__version__}",
        "gpu": torch.cuda.get_device_name(0),
        "batch": args.batch_size,
        "epoch_seconds": seconds,
        "images_per_second": x.shape[0] / seconds,
        "last_loss": float(last),
        "test_accuracy": correct / xt.shape[0],
    }
    with open(args.json, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
