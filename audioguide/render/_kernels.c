/* The renderer's hottest loops in C: the true-peak interpolator, the running mean and the release's
 * running maximum of the limiter (audioguide/render/loudness.py, audioguide/render/dsp.py), and the
 * K-weighting filter of the loudness meter (see biquad_squares_into for how that one differs).
 *
 * The limiter's three do what the numpy code they stand in for does, operation for operation and in the
 * same order, so the limiter's output is the same to the bit whether this module was compiled or not;
 * the tests compare the two (tests/test_kernels.py). The loudness reading that sets the mastering gain
 * may differ in its last digits, but that gain is applied as a float32, so a session comes out the
 * same bytes (every built-in routine with every voice compared). The bit-identity rests on three things:
 *   - IEEE arithmetic with no fused multiply-add: the build passes -ffp-contract=off (gcc and clang
 *     would otherwise fuse t * x + p on CPUs that have FMA, which rounds once instead of twice);
 *   - no reassociation: no -ffast-math, so the compiler vectorises across samples, never within a sum;
 *   - maxima, which do not round, taken with numpy's rule that a NaN wins.
 *
 * The module is optional. Where it cannot be compiled (no C compiler at install time) the numpy code
 * runs instead, a little slower. Arguments are contiguous buffers that the Python callers make and
 * check (dtype and layout); here only their sizes are checked, so that no call can read or write out
 * of bounds. Each loop runs without the GIL: the renderer works in a thread beside the MP3 encoder.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdlib.h>

/* numpy's maximum: NaN if either is NaN, else the larger. */
#define NP_MAX(a, b) (((a) > (b) || (a) != (a)) ? (a) : (b))

#define ENVELOPE_BLOCK 256 /* samples per pass over the taps: three float rows that stay in L1 */

/* envelope_max_into(x, taps, envelope): for each i < n = len(envelope),
 *     p_k = sum over q of taps[q][k] * x[i + q]    (k = 0, 1, 2; q in order, float32 each step)
 *     envelope[i] = max(envelope[i], |p_0|, |p_1|, |p_2|, |x[i + half]|)
 * where taps is (2 * half + 1, 3) float32 and x has n + 2 * half float32 samples: the three
 * interpolated points after each sample, as loudness._true_peak_envelope computes them for a channel. */
static PyObject *envelope_max_into(PyObject *self, PyObject *args) {
    Py_buffer xb, tb, eb;
    if (!PyArg_ParseTuple(args, "y*y*w*", &xb, &tb, &eb)) return NULL;
    PyObject *result = NULL;
    const Py_ssize_t n = eb.len / (Py_ssize_t)sizeof(float);
    const Py_ssize_t ntaps = tb.len / (Py_ssize_t)(3 * sizeof(float));
    if (ntaps < 1 || ntaps % 2 == 0 || tb.len != ntaps * 3 * (Py_ssize_t)sizeof(float) ||
        eb.len != n * (Py_ssize_t)sizeof(float) ||
        xb.len != (n + ntaps - 1) * (Py_ssize_t)sizeof(float)) {
        PyErr_SetString(PyExc_ValueError, "envelope_max_into: mismatched buffer sizes");
        goto done;
    }
    const float *x = xb.buf, *taps = tb.buf;
    float *env = eb.buf;
    Py_BEGIN_ALLOW_THREADS
    float p0[ENVELOPE_BLOCK], p1[ENVELOPE_BLOCK], p2[ENVELOPE_BLOCK];
    for (Py_ssize_t start = 0; start < n; start += ENVELOPE_BLOCK) {
        const Py_ssize_t m = n - start < ENVELOPE_BLOCK ? n - start : ENVELOPE_BLOCK;
        const float *xs = x + start;
        for (Py_ssize_t i = 0; i < m; i++) {
            p0[i] = taps[0] * xs[i];
            p1[i] = taps[1] * xs[i];
            p2[i] = taps[2] * xs[i];
        }
        for (Py_ssize_t q = 1; q < ntaps; q++) {
            const float t0 = taps[3 * q], t1 = taps[3 * q + 1], t2 = taps[3 * q + 2];
            const float *xq = xs + q;
            for (Py_ssize_t i = 0; i < m; i++) {
                p0[i] = p0[i] + t0 * xq[i];
                p1[i] = p1[i] + t1 * xq[i];
                p2[i] = p2[i] + t2 * xq[i];
            }
        }
        const float *centre = xs + ntaps / 2;
        float *out = env + start;
        for (Py_ssize_t i = 0; i < m; i++) {
            float e = out[i];
            e = NP_MAX(e, fabsf(p0[i]));
            e = NP_MAX(e, fabsf(p1[i]));
            e = NP_MAX(e, fabsf(p2[i]));
            e = NP_MAX(e, fabsf(centre[i]));
            out[i] = e;
        }
    }
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&xb);
    PyBuffer_Release(&tb);
    PyBuffer_Release(&eb);
    return result;
}

/* running_mean(x, width, out): dsp.running_mean's running sum, float64. The sum starts on the
 * mirrored line x[left-1] .. x[0], x[0] .. x[width-left-1] (left = width // 2) summed left to right,
 * then adds each step (entering value minus leaving value, one subtraction) and divides on output. */
static PyObject *running_mean(PyObject *self, PyObject *args) {
    Py_buffer xb, ob;
    Py_ssize_t width;
    if (!PyArg_ParseTuple(args, "y*nw*", &xb, &width, &ob)) return NULL;
    PyObject *result = NULL;
    const Py_ssize_t size = xb.len / (Py_ssize_t)sizeof(double);
    const Py_ssize_t count = size - width + 1, left = width / 2;
    if (width < 1 || count < 1 || left > size || xb.len != size * (Py_ssize_t)sizeof(double) ||
        ob.len != count * (Py_ssize_t)sizeof(double)) {
        PyErr_SetString(PyExc_ValueError, "running_mean: mismatched width or buffer sizes");
        goto done;
    }
    const double *x = xb.buf;
    double *out = ob.buf;
    const double w = (double)width;
    Py_BEGIN_ALLOW_THREADS
    /* The first window: x[left-1] .. x[0] then x[0] .. x[width-left-1], starting from its first value
     * as numpy's add.accumulate does. */
    double s = left > 0 ? x[left - 1] : x[0];
    for (Py_ssize_t j = left - 2; j >= 0; j--) s = s + x[j];
    for (Py_ssize_t j = left > 0 ? 0 : 1; j < width - left; j++) s = s + x[j];
    for (Py_ssize_t k = 0; k < left; k++) s = s + (x[width - left + k] - x[left - 1 - k]);
    out[0] = s / w;
    for (Py_ssize_t i = 1; i < count; i++) {
        s = s + (x[width + i - 1] - x[i - 1]);
        out[i] = s / w;
    }
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&xb);
    PyBuffer_Release(&ob);
    return result;
}

/* biquad_squares_into(x, sos, state, flush, out): run x through the cascade of second-order sections
 * sos ((sections, 6) as scipy lays them out, a0 = 1), one sample at a time in transposed direct form
 * II from the carried state (2 values per section, updated), and add each output's square to out.
 * Every 16 samples, state components under flush are set to zero, as dsp.BiquadCascade does at its
 * block boundaries, so that a decaying state never reaches the slow subnormal floats.
 * This is scipy.signal.sosfilt's arithmetic (the same values, to the bit), not that of the numpy code
 * beside it (dsp.BiquadCascade.process sums 16 samples at a time through matrix products): the two
 * agree to rounding, not to the bit, so it is used only for loudness readings, where that is enough
 * (dsp.BiquadCascade.add_squares). */
#define MAX_SECTIONS 8
#define FLUSH_EVERY 16
static PyObject *biquad_squares_into(PyObject *self, PyObject *args) {
    Py_buffer xb, sb, zb, ob;
    double flush;
    if (!PyArg_ParseTuple(args, "y*y*w*dw*", &xb, &sb, &zb, &flush, &ob)) return NULL;
    PyObject *result = NULL;
    const Py_ssize_t n = xb.len / (Py_ssize_t)sizeof(double);
    const Py_ssize_t sections = sb.len / (Py_ssize_t)(6 * sizeof(double));
    if (sections < 1 || sections > MAX_SECTIONS || sb.len != sections * 6 * (Py_ssize_t)sizeof(double) ||
        zb.len != sections * 2 * (Py_ssize_t)sizeof(double) || xb.len != n * (Py_ssize_t)sizeof(double) ||
        ob.len != xb.len) {
        PyErr_SetString(PyExc_ValueError, "biquad_squares_into: mismatched buffer sizes");
        goto done;
    }
    const double *x = xb.buf, *sos = sb.buf;
    double *state = zb.buf, *out = ob.buf;
    Py_BEGIN_ALLOW_THREADS
    double z0[MAX_SECTIONS], z1[MAX_SECTIONS];
    for (Py_ssize_t s = 0; s < sections; s++) {
        z0[s] = state[2 * s];
        z1[s] = state[2 * s + 1];
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        double v = x[i];
        for (Py_ssize_t s = 0; s < sections; s++) {
            const double *c = sos + 6 * s; /* b0 b1 b2 a0 a1 a2 */
            const double y = c[0] * v + z0[s];
            z0[s] = c[1] * v - c[4] * y + z1[s];
            z1[s] = c[2] * v - c[5] * y;
            v = y;
        }
        out[i] = out[i] + v * v;
        if ((i + 1) % FLUSH_EVERY == 0) {
            for (Py_ssize_t s = 0; s < sections; s++) {
                if (fabs(z0[s]) < flush) z0[s] = 0.0;
                if (fabs(z1[s]) < flush) z1[s] = 0.0;
            }
        }
    }
    for (Py_ssize_t s = 0; s < sections; s++) {
        state[2 * s] = z0[s];
        state[2 * s + 1] = z1[s];
    }
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&xb);
    PyBuffer_Release(&sb);
    PyBuffer_Release(&zb);
    PyBuffer_Release(&ob);
    return result;
}

/* running_max_fill(at, values, start, out): out[i] = max(start, values[k] for every k with at[k] <= i),
 * where at is increasing (int64) and values float64: loudness._running_log_max after its logarithms,
 * which numpy computes (its log is not the C library's, to the bit). */
static PyObject *running_max_fill(PyObject *self, PyObject *args) {
    Py_buffer ab, vb, ob;
    double start;
    if (!PyArg_ParseTuple(args, "y*y*dw*", &ab, &vb, &start, &ob)) return NULL;
    PyObject *result = NULL;
    const Py_ssize_t count = vb.len / (Py_ssize_t)sizeof(double);
    const Py_ssize_t n = ob.len / (Py_ssize_t)sizeof(double);
    if (ab.len != count * (Py_ssize_t)sizeof(long long) || vb.len != count * (Py_ssize_t)sizeof(double) ||
        ob.len != n * (Py_ssize_t)sizeof(double)) {
        PyErr_SetString(PyExc_ValueError, "running_max_fill: mismatched buffer sizes");
        goto done;
    }
    const long long *at = ab.buf;
    const double *values = vb.buf;
    double *out = ob.buf;
    int ordered = 1;
    for (Py_ssize_t k = 0; k < count; k++)
        if (at[k] < 0 || at[k] >= n || (k > 0 && at[k] <= at[k - 1])) ordered = 0;
    if (!ordered) {
        PyErr_SetString(PyExc_ValueError, "running_max_fill: positions must increase within the output");
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    double running = start;
    Py_ssize_t i = 0;
    for (Py_ssize_t k = 0; k <= count; k++) {
        const Py_ssize_t until = k < count ? (Py_ssize_t)at[k] : n;
        for (; i < until; i++) out[i] = running;
        if (k < count) running = NP_MAX(running, values[k]);
    }
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&ab);
    PyBuffer_Release(&vb);
    PyBuffer_Release(&ob);
    return result;
}

static PyMethodDef methods[] = {
    {"running_max_fill", running_max_fill, METH_VARARGS,
     "running_max_fill(at, values, start, out): the running maximum of values placed at positions."},
    {"biquad_squares_into", biquad_squares_into, METH_VARARGS,
     "biquad_squares_into(x, sos, state, flush, out): add the squares of the filtered x to out."},
    {"envelope_max_into", envelope_max_into, METH_VARARGS,
     "envelope_max_into(x, taps, envelope): raise envelope to each sample's true-peak reading."},
    {"running_mean", running_mean, METH_VARARGS,
     "running_mean(x, width, out): dsp.running_mean's values into out."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_kernels",
    "The renderer's hottest loops in C (see its source for how each matches the numpy code).", -1,
    methods,
};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&module); }
