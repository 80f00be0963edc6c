#!/usr/bin/python3
"""Converts pytorch-fid's FID Inception weights to the safetensors file progan reads.

usage: /usr/bin/python3 scripts/inception_to_safetensors.py \
           pt_inception-2015-12-05-6726825d.pth fid-inception.safetensors

The input is the state dict pytorch-fid downloads (FID_WEIGHTS_URL in
mseitzer/pytorch-fid src/pytorch_fid/inception.py: the TF FID Inception graph
ported to PyTorch). It is read with torch.load(weights_only=True), so no code in
the file runs. Every tensor keeps its state-dict name and shape and is written as
float32; BatchNorm's num_batches_tracked counters (integers the network never
reads) are dropped. progan checks every name and shape when it loads the file.
This is the only part of progan that needs PyTorch (Debian: python3-torch).
"""
import json
import os
import struct
import sys

import torch


def tensors_of(path):
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated, foreign or code-carrying file: one line, not a trace
        sys.exit(f"{path}: not a PyTorch weights file torch.load(weights_only=True) accepts "
                 f"({type(e).__name__}: {str(e).splitlines()[0][:200]})")
    if not isinstance(state, dict):
        sys.exit(f"{path}: not a state dict (got {type(state).__name__}); "
                 "give pt_inception-2015-12-05-6726825d.pth from pytorch-fid")
    out = {}
    for name, value in state.items():
        if name.endswith(".num_batches_tracked"):
            continue
        if not torch.is_tensor(value) or not value.is_floating_point():
            sys.exit(f"{path}: entry {name} is not a floating-point tensor")
        out[name] = value.detach().to(torch.float32).contiguous()
    if "fc.weight" not in out or "Mixed_7c.branch_pool.conv.weight" not in out:
        sys.exit(f"{path}: no fc.weight or Mixed_7c tensors: this is not the FID Inception "
                 "state dict")
    return out


def write_safetensors(tensors, path, source):
    """The safetensors layout: u64 header length, JSON header, tensors back to back."""
    header, offset, blobs = {"__metadata__": {"format": "pt", "source": source}}, 0, []
    for name, t in tensors.items():
        data = t.numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data block starts 8-byte aligned
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:  # a temporary name, renamed when complete
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for data in blobs:
            f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return offset


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, dst = sys.argv[1], sys.argv[2]
    tensors = tensors_of(src)
    size = write_safetensors(tensors, dst, os.path.basename(src))
    print(f"{dst}: {len(tensors)} tensors, {size / 1e6:.1f} MB of float32 weights")


if __name__ == "__main__":
    main()
