/* LeNet-5's two convolutions (5x5, stride 1, no padding) on the CPU, in float32, single-threaded:
 * the forward pass and the gradients that training needs. Called through ctypes by conv.py, which
 * checks the shapes; compiled on first use by build.py.
 *
 * Written with GCC/Clang vector extensions, not intrinsics: the compiler maps a 16-float vector
 * to one AVX-512 register, two AVX2 ones or four NEON ones. The summation order is fixed, so
 * results are identical from run to run.
 *
 * ---------------------------------------------------------------------------------------------
 * One input channel, output rows of at least 16 pixels (conv1: 32x32 -> 6 x 28x28)
 *
 * Why: oneDNN pads conv1's 6 output channels to its 16-channel blocks and reorders every output
 * and gradient to and from PyTorch's layout, which makes this small layer a large part of a
 * LeNet-5 training step (benchmarks/RESULTS.md). These loops vectorise along the output row
 * instead, write PyTorch's NCHW layout directly, and keep their accumulators in registers.
 *
 * Layouts (contiguous, float32): x (N, H, W); weight (C, 5, 5); bias (C); out and grad_out
 * (N, C, H - 4, W - 4). The caller guarantees W - 4 >= 16.
 * ------------------------------------------------------------------------------------------- */
#include <stdint.h>
#include <string.h>

typedef float vf __attribute__((vector_size(64)));
typedef int32_t vi __attribute__((vector_size(64)));
#define LANES 16
#define K 5
#define TAPS (K * K)

static inline vf load(const float *p) { vf v; memcpy(&v, p, sizeof v); return v; }
static inline void store(float *p, vf v) { memcpy(p, &v, sizeof v); }

/* Lanes below `skip` zeroed (bitwise, so that an inf or NaN there does not reach the sum). */
static inline vf drop_first(vf v, int skip)
{
    vi lane;
    for (int k = 0; k < LANES; k++) lane[k] = k;
    return (vf)((vi)v & (lane >= skip));
}

static inline float sum_lanes(vf v)
{
    float s = 0.f;
    for (int k = 0; k < LANES; k++) s += v[k];
    return s;
}

/* The first column of the 16-wide block that starts at j0: the last block of a row is moved
 * left to end at the row's end, overlapping the block before it (its overlapping outputs are
 * computed again, identically; gradient sums skip them). */
static inline int64_t block_start(int64_t j0, int64_t ow) { return j0 + LANES <= ow ? j0 : ow - LANES; }

/* Output channels per pass: 6 accumulators x (one output row block) stay in registers. */
#define CB 6

void normlab_conv5x5_c1_forward(const float *restrict x, const float *restrict weight,
                                const float *restrict bias, float *restrict out,
                                int64_t n_images, int64_t h, int64_t w, int64_t channels)
{
    const int64_t oh = h - (K - 1), ow = w - (K - 1);
    for (int64_t c0 = 0; c0 < channels; c0 += CB) {
        const int64_t cb = channels - c0 < CB ? channels - c0 : CB;
        /* Taps-major copy of this channel block's weights, zero for channels past the end. */
        float wt[TAPS][CB], b[CB];
        for (int c = 0; c < CB; c++) {
            b[c] = c < cb ? bias[c0 + c] : 0.f;
            for (int t = 0; t < TAPS; t++) wt[t][c] = c < cb ? weight[(c0 + c) * TAPS + t] : 0.f;
        }
        for (int64_t n = 0; n < n_images; n++) {
            const float *xn = x + n * h * w;
            float *on = out + (n * channels + c0) * oh * ow;
            for (int64_t i = 0; i < oh; i++) {
                for (int64_t j0 = 0; j0 < ow; j0 += LANES) {
                    const int64_t j = block_start(j0, ow);
                    vf acc[CB];
                    for (int c = 0; c < CB; c++) acc[c] = (vf){} + b[c];
                    for (int kh = 0; kh < K; kh++)
                        for (int kw = 0; kw < K; kw++) {
                            const vf xv = load(xn + (i + kh) * w + j + kw);
                            for (int c = 0; c < CB; c++) acc[c] += wt[kh * K + kw][c] * xv;
                        }
                    for (int64_t c = 0; c < cb; c++) store(on + (c * oh + i) * ow + j, acc[c]);
                }
            }
        }
    }
}

void normlab_conv5x5_c1_backward_weight(const float *restrict x, const float *restrict grad_out,
                                        float *restrict grad_weight, float *restrict grad_bias,
                                        int64_t n_images, int64_t h, int64_t w, int64_t channels)
{
    const int64_t oh = h - (K - 1), ow = w - (K - 1);
    for (int64_t c = 0; c < channels; c++) {
        vf acc[TAPS], acc_bias = {};
        for (int t = 0; t < TAPS; t++) acc[t] = (vf){};
        for (int64_t n = 0; n < n_images; n++) {
            const float *xn = x + n * h * w;
            const float *gn = grad_out + (n * channels + c) * oh * ow;
            for (int64_t i = 0; i < oh; i++)
                for (int64_t j0 = 0; j0 < ow; j0 += LANES) {
                    const int64_t j = block_start(j0, ow);
                    const vf g = load(gn + i * ow + j);
                    const int skip = (int)(j0 - j);
                    if (skip) {
                        /* The overlapping block: drop the repeated lanes of x as well as of g, so
                         * that an inf in x there does not turn into 0 * inf = NaN. */
                        const vf gm = drop_first(g, skip);
                        acc_bias += gm;
                        for (int kh = 0; kh < K; kh++)
                            for (int kw = 0; kw < K; kw++)
                                acc[kh * K + kw] += gm * drop_first(load(xn + (i + kh) * w + j + kw), skip);
                        continue;
                    }
                    acc_bias += g;
                    for (int kh = 0; kh < K; kh++)
                        for (int kw = 0; kw < K; kw++)
                            acc[kh * K + kw] += g * load(xn + (i + kh) * w + j + kw);
                }
        }
        for (int t = 0; t < TAPS; t++) grad_weight[c * TAPS + t] = sum_lanes(acc[t]);
        grad_bias[c] = sum_lanes(acc_bias);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Any input channels, output rows of at most 16 (LeNet-5's conv2: 6 -> 16 channels, 14x14 -> 10x10)
 *
 * oneDNN's backward pass for conv2 is a large part of a training step (benchmarks/RESULTS.md). Here the
 * forward pass and the weight gradient vectorise over 16 output channels (one vector), the input
 * gradient over a 16-wide input row. Layouts (contiguous, float32): x and grad_x (N, CI, H, W);
 * weight and grad_weight (CO, CI, 5, 5); bias and grad_bias (CO); out and grad_out (N, CO, OH, OW)
 * with OH = H - 4, OW = W - 4; the caller guarantees 1 <= OW and W <= 16.
 * ------------------------------------------------------------------------------------------- */

#define MAX_OW 12
#define PAD_W (K - 1 + LANES) /* a zero-padded grad_out row: 4 zeros, then OW values, then zeros */

static inline int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* Weights as [output-channel block][CI][5][5][16 lanes], zero past the last channel. */
static void pack_weight_by_output(const float *restrict weight, float *restrict packed, int64_t co, int64_t ci)
{
    for (int64_t ob = 0; ob < cdiv(co, LANES); ob++)
        for (int64_t c = 0; c < ci; c++)
            for (int t = 0; t < TAPS; t++)
                for (int l = 0; l < LANES; l++) {
                    const int64_t o = ob * LANES + l;
                    packed[((ob * ci + c) * TAPS + t) * LANES + l] = o < co ? weight[(o * ci + c) * TAPS + t] : 0.f;
                }
}

/* One output row (all OW columns, one block of 16 output channels); `ow` is a constant after inlining. */
static inline __attribute__((always_inline)) void
forward_row(const float *restrict xn, const float *restrict wp, vf b, float *restrict on, int64_t ci, int64_t h,
            int64_t w, int64_t oh, int64_t i, int64_t lanes, const int ow)
{
    vf acc[MAX_OW];
    for (int j = 0; j < ow; j++) acc[j] = b;
    for (int64_t c = 0; c < ci; c++)
        for (int kh = 0; kh < K; kh++) {
            const float *xr = xn + (c * h + i + kh) * w;
            const float *wr = wp + (c * TAPS + kh * K) * LANES;
            for (int kw = 0; kw < K; kw++) {
                const vf wv = load(wr + kw * LANES);
                for (int j = 0; j < ow; j++) acc[j] += wv * xr[j + kw];
            }
        }
    for (int64_t l = 0; l < lanes; l++)
        for (int j = 0; j < ow; j++) on[(l * oh + i) * ow + j] = acc[j][l];
}

/* workspace: cdiv(CO, 16) * CI * 25 * 16 floats. */
void normlab_conv5x5_forward(const float *restrict x, const float *restrict weight, const float *restrict bias,
                             float *restrict out, float *restrict workspace, int64_t n_images, int64_t ci,
                             int64_t h, int64_t w, int64_t co)
{
    const int64_t oh = h - (K - 1), ow = w - (K - 1);
    pack_weight_by_output(weight, workspace, co, ci);
    for (int64_t ob = 0; ob < cdiv(co, LANES); ob++) {
        const int64_t lanes = co - ob * LANES < LANES ? co - ob * LANES : LANES;
        vf b = {};
        for (int64_t l = 0; l < lanes; l++) b[l] = bias[ob * LANES + l];
        const float *wp = workspace + ob * ci * TAPS * LANES;
        for (int64_t n = 0; n < n_images; n++) {
            const float *xn = x + n * ci * h * w;
            float *on = out + (n * co + ob * LANES) * oh * ow;
            for (int64_t i = 0; i < oh; i++) {
                switch (ow) {
#define ROW(k) case k: forward_row(xn, wp, b, on, ci, h, w, oh, i, lanes, k); break;
                ROW(1) ROW(2) ROW(3) ROW(4) ROW(5) ROW(6) ROW(7) ROW(8) ROW(9) ROW(10) ROW(11) ROW(12)
#undef ROW
                }
            }
        }
    }
}

/* workspace: N * OH * OW * cdiv(CO, 16) * 16 floats (grad_out with the channels innermost). */
void normlab_conv5x5_backward_weight(const float *restrict x, const float *restrict grad_out,
                                     float *restrict grad_weight, float *restrict grad_bias,
                                     float *restrict workspace, int64_t n_images, int64_t ci, int64_t h,
                                     int64_t w, int64_t co)
{
    const int64_t oh = h - (K - 1), ow = w - (K - 1), blocks = cdiv(co, LANES), cop = blocks * LANES;
    const int64_t pixels = oh * ow;
    for (int64_t n = 0; n < n_images; n++)
        for (int64_t p = 0; p < pixels; p++) {
            float *dst = workspace + (n * pixels + p) * cop;
            for (int64_t o = 0; o < cop; o++) dst[o] = o < co ? grad_out[(n * co + o) * pixels + p] : 0.f;
        }
    for (int64_t ob = 0; ob < blocks; ob++) {
        const int64_t lanes = co - ob * LANES < LANES ? co - ob * LANES : LANES;
        vf acc_bias = {};
        for (int64_t c = 0; c < ci; c++) {
            vf acc[TAPS];
            for (int t = 0; t < TAPS; t++) acc[t] = (vf){};
            for (int64_t n = 0; n < n_images; n++) {
                const float *xn = x + (n * ci + c) * h * w;
                const float *gn = workspace + n * pixels * cop + ob * LANES;
                for (int64_t i = 0; i < oh; i++)
                    for (int64_t j = 0; j < ow; j++) {
                        const vf g = load(gn + (i * ow + j) * cop);
                        if (c == 0) acc_bias += g;
                        const float *xb = xn + i * w + j;
                        for (int kh = 0; kh < K; kh++)
                            for (int kw = 0; kw < K; kw++) acc[kh * K + kw] += g * xb[kh * w + kw];
                    }
            }
            for (int64_t l = 0; l < lanes; l++)
                for (int t = 0; t < TAPS; t++) grad_weight[((ob * LANES + l) * ci + c) * TAPS + t] = acc[t][l];
        }
        for (int64_t l = 0; l < lanes; l++) grad_bias[ob * LANES + l] = acc_bias[l];
    }
}

/* workspace: N * CO * OH * PAD_W floats (zero-padded grad_out rows)
 *          + 25 * CO * cdiv(CI, 6) * 6 floats (weights as [CO][5][5][input channel]).
 * Returns 0, or 1 without writing grad_x when a weight is not finite: the zero padding is
 * multiplied by every weight, so an infinite one would put NaN where PyTorch has finite values,
 * and the caller computes that gradient with PyTorch instead. */
int normlab_conv5x5_backward_input(const float *restrict grad_out, const float *restrict weight,
                                   float *restrict grad_x, float *restrict workspace, int64_t n_images,
                                   int64_t ci, int64_t h, int64_t w, int64_t co)
{
    for (int64_t k = 0; k < co * ci * TAPS; k++)
        if (!__builtin_isfinite(weight[k])) return 1;
    const int64_t oh = h - (K - 1), ow = w - (K - 1), cip = cdiv(ci, CB) * CB;
    float *padded = workspace, *wp = workspace + n_images * co * oh * PAD_W;
    for (int64_t r = 0; r < n_images * co * oh; r++) {
        float *row = padded + r * PAD_W;
        memset(row, 0, PAD_W * sizeof(float));
        memcpy(row + (K - 1), grad_out + r * ow, ow * sizeof(float));
    }
    for (int64_t o = 0; o < co; o++)
        for (int t = 0; t < TAPS; t++)
            for (int64_t c = 0; c < cip; c++) wp[(o * TAPS + t) * cip + c] = c < ci ? weight[(o * ci + c) * TAPS + t] : 0.f;
    /* grad_x[y][x] = sum over o, kh, kw of grad_out[y - kh][x - kw] * weight[kh][kw]: lane x of the
     * padded row read from column 4 - kw is grad_out[y - kh][x - kw], zero outside the row. */
    for (int64_t c0 = 0; c0 < ci; c0 += CB) {
        const int64_t cb = ci - c0 < CB ? ci - c0 : CB;
        for (int64_t n = 0; n < n_images; n++)
            for (int64_t y = 0; y < h; y++) {
                const int kh_lo = y - (oh - 1) > 0 ? (int)(y - (oh - 1)) : 0;
                const int kh_hi = y < K - 1 ? (int)y : K - 1;
                vf acc[CB];
                for (int c = 0; c < CB; c++) acc[c] = (vf){};
                for (int64_t o = 0; o < co; o++)
                    for (int kh = kh_lo; kh <= kh_hi; kh++) {
                        const float *row = padded + ((n * co + o) * oh + y - kh) * PAD_W + (K - 1);
                        const float *wk = wp + (o * TAPS + kh * K) * cip + c0;
                        for (int kw = 0; kw < K; kw++) {
                            const vf g = load(row - kw);
                            for (int c = 0; c < CB; c++) acc[c] += wk[kw * cip + c] * g;
                        }
                    }
                for (int64_t c = 0; c < cb; c++) memcpy(grad_x + ((n * ci + c0 + c) * h + y) * w, &acc[c], w * sizeof(float));
            }
    }
    return 0;
}
