// The public API of 'wgsl-nn/node': what needs Node itself (files on disk,
// Dawn). Everything in 'wgsl-nn' works in Node too; import it from there.

export { loadMnistNode, mnistDataDir } from './data/mnist_node';
export { nodeGpu, acquireNodeDevice, ICD_FILES } from './node/gpu';
export { fileTuneCache, defaultTuneCacheDir } from './node/tune_cache';
