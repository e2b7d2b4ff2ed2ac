// softmax_cross_entropy: softmax, cross-entropy loss, its gradient, the
// prediction, and running metrics, in one dispatch of ONE workgroup.
//   dlogits: (B, C)  overwritten: (softmax(logits) - onehot(label)) / B,
//                    the gradient of the MEAN loss over the batch (as Keras)
//   loss:    (B)     overwritten: -log softmax(logits)[label]
//   pred:    (B) u32 overwritten: argmax of the row (the first max on ties)
//   metrics: (3)     accumulated: [0] += sum of loss, [1] += correct
//                    predictions, [2] += rows counted; the host zeroes it
//   logits:  (B, C)
//   labels:  (B) u32
// A label >= C (mnist_batch writes 0xffffffff for a row it could not gather)
// marks a row with no target: its loss and dlogits are 0 and it adds nothing
// to any metric, so metrics[2] falls short of B and the host can tell.
//
// Algorithm: thread t handles rows t, t + WORKGROUP_SIZE, ... in full (max,
// sum of exp(x - max), then loss and dlogits), keeping its own partial sums.
// A fixed-shape tree in workgroup memory then adds the partials, so the sums
// are the same bits on every run (no float atomics). One workgroup is plenty:
// the work is O(B * C), about 10k elements for a batch of 1000 on MNIST.

struct Params {
  batch: u32,
  classes: u32,
}

@group(0) @binding(0) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(1) var<storage, read_write> loss: array<f32>;
@group(0) @binding(2) var<storage, read_write> pred: array<u32>;
@group(0) @binding(3) var<storage, read_write> metrics: array<f32>;
@group(0) @binding(4) var<storage, read> logits: array<f32>;
@group(0) @binding(5) var<storage, read> labels: array<u32>;
@group(0) @binding(6) var<uniform> params: Params;

// Must be a power of two: the tree reduction halves it.
override WORKGROUP_SIZE: u32 = 256;

var<workgroup> partial_loss: array<f32, WORKGROUP_SIZE>;
var<workgroup> partial_correct: array<u32, WORKGROUP_SIZE>;
var<workgroup> partial_rows: array<u32, WORKGROUP_SIZE>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(local_invocation_index) tid: u32) {
  let classes = params.classes;
  let batch_f = f32(params.batch);
  var loss_sum = 0.0;
  var correct = 0u;
  var rows = 0u;
  for (var row = tid; row < params.batch; row += WORKGROUP_SIZE) {
    let base = row * classes;
    // Pass 1: the max (for stability) and the first index attaining it.
    var best = logits[base];
    var best_index = 0u;
    for (var j = 1u; j < classes; j++) {
      let x = logits[base + j];
      if (x > best) {
        best = x;
        best_index = j;
      }
    }
    // Pass 2: every exponent is <= 0, so the sum lies in [1, C]: no overflow,
    // and log() of it is well conditioned.
    var sum = 0.0;
    for (var j = 0u; j < classes; j++) {
      sum += exp(logits[base + j] - best);
    }
    let label = labels[row];
    let valid = label < classes;
    // Pass 3: recomputing exp() costs less than a second trip through memory.
    for (var j = 0u; j < classes; j++) {
      let p = exp(logits[base + j] - best) / sum;
      let hot = select(0.0, 1.0, j == label);
      dlogits[base + j] = select(0.0, (p - hot) / batch_f, valid);
    }
    var row_loss = 0.0;
    if (valid) {
      row_loss = log(sum) - (logits[base + label] - best);
      loss_sum += row_loss;
      correct += select(0u, 1u, best_index == label);
      rows += 1u;
    }
    loss[row] = row_loss;
    pred[row] = best_index;
  }
  partial_loss[tid] = loss_sum;
  partial_correct[tid] = correct;
  partial_rows[tid] = rows;
  workgroupBarrier();
  for (var stride = WORKGROUP_SIZE / 2u; stride > 0u; stride /= 2u) {
    if (tid < stride) {
      partial_loss[tid] += partial_loss[tid + stride];
      partial_correct[tid] += partial_correct[tid + stride];
      partial_rows[tid] += partial_rows[tid + stride];
    }
    workgroupBarrier();
  }
  if (tid == 0u) {
    // The running counts stay exact in f32 below 2^24 (about 280 epochs of
    // MNIST between resets).
    metrics[0] += partial_loss[0];
    metrics[1] += f32(partial_correct[0]);
    metrics[2] += f32(partial_rows[0]);
  }
}
