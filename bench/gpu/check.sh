#!/usr/bin/env bash
# The GPU check, run on a lent GPU machine through the device tool, with
# .gpucheck (bench/gpu/prepare.sh) and .gl (the Vulkan loader packages, see
# the device tool's README) carried:
#
#   bash bench/gpu/check.sh
#
# 1. the bench on the GPU through Dawn: kernels, end to end against TF.js's
#    WebGPU backend on the same GPU, and tuned vs untuned with the tuning
#    time (bench/tune.bench.ts);
# 2. one full epoch of the paper CNN on MNIST (60,000 images, batch 128),
#    tuned, through the training CLI;
# 3. the same CNN and epoch in PyTorch on the same GPU (bench/gpu/torch_cnn.py).
# Every result is JSON under $OUT/results (the device tool brings it back)
# for bench/results/. Each step is bounded so that all three fit one
# 10-minute call.
set -uo pipefail
cd "$(dirname "$0")/../.."
out="${OUT:-/tmp/gpucheck-out}/results"
mkdir -p "$out"
for f in .gl/*.deb; do [ -e "$f" ] && dpkg -x "$f" /; done
ldconfig
export VK_DRIVER_FILES="${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}"
export VK_ICD_FILENAMES="$VK_DRIVER_FILES"
kit=/tmp/gpukit
mkdir -p "$kit/bench/results" && xz -dc .gpucheck/kit.tar.xz | tar -C "$kit" -xf -
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > "$out/gpu.csv" 2>&1
export WGSL_NN_CACHE_DIR="$out/tune-cache"
date -u +%FT%TZ > "$out/started"

# 1. The bench (quick: a few samples per row), tuned rows included.
timeout 240 "$kit/node" "$kit/bin/bench.mjs" --quick --only gemm,conv2d,train,tune > "$out/bench.md" 2> "$out/bench.log"
echo "bench rc=$?" >> "$out/status"
cp "$kit"/bench/results/*.json "$out/" 2>/dev/null

# 2. One epoch of the paper CNN, tuned, batch 128, evaluation on the 10,000 test images.
timeout 180 "$kit/node" "$kit/bin/train.mjs" --epochs 1 --batch-size 128 --tune auto --data "$kit/mnist" \
  --log "$out/train-paper-cnn-1ep-gpu.json" --checkpoint /tmp/gpu-model.safetensors > "$out/train.log" 2>&1
echo "train rc=$?" >> "$out/status"

# 3. PyTorch on the same GPU, the same model and epoch.
timeout 120 python3 "$kit/torch_cnn.py" --data "$kit/mnist" --batch-size 128 --json "$out/torch-paper-cnn-1ep.json" > "$out/torch.log" 2>&1
echo "torch rc=$?" >> "$out/status"
cat "$out/status"
