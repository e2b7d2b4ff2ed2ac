// enable_subgroups: the directive, included first by kernels whose own
// includes come before their source (a directive must precede every
// declaration): gemm_sg_wide.

enable subgroups;
