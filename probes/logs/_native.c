/* Big logs, outside the GIL: line breaks counted, and plain needles found, while reading.
 *
 * Why native: the scan of a 1 GiB log is bounded by passes over its bytes. NumPy's
 * compare-then-count makes two passes and a temporary (0.07 s/GiB here) after a 0.06 s import;
 * this counts in one pass with AVX2 (SSE2 without it) at ~0.02 s/GiB. And a chunk is read in
 * 256 KiB pieces, each counted and searched for the log analysis' plain needles (ERROR, ...)
 * while it is still in the core's cache, instead of a second pass over the chunk with Hyperscan
 * (bench/bench_logs.py). Regex needles (the access review's) stay with Hyperscan. Optional:
 * without a compiler the package installs without this, and the pipeline counts with NumPy or
 * Python and finds every needle with Hyperscan.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Needle end offsets found, growing as needed; ``failed`` once an allocation failed. */
typedef struct {
    size_t *items;
    size_t len, cap;
    int failed;
} Hits;

static void hits_add(Hits *hits, size_t end) {
    if (hits->failed) return;
    if (hits->len == hits->cap) {
        size_t cap = hits->cap ? 2 * hits->cap : 256;
        size_t *grown = realloc(hits->items, cap * sizeof(size_t));
        if (grown == NULL) {
            hits->failed = 1;
            return;
        }
        hits->items = grown;
        hits->cap = cap;
    }
    hits->items[hits->len++] = end;
}

/* Matches of needle ``n`` (``len`` >= 1) starting at ``from`` .. ``last`` (inclusive), checked
 * one by one: the tail of a block, and CPUs without the vector paths. */
static size_t search_scalar(const unsigned char *p, size_t from, size_t last,
                            const unsigned char *n, size_t len, Hits *hits) {
    for (size_t at = from; at <= last; at++)
        if (p[at] == n[0] && p[at + len - 1] == n[len - 1] && memcmp(p + at, n, len) == 0)
            hits_add(hits, at + len);
    return last + 1;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* Byte lanes count matches (a match is -1: subtracting it adds one) for at most 255 rounds,
 * then a sum of absolute differences folds them into 64-bit totals. */
__attribute__((target("avx2"))) static size_t count_avx2(const unsigned char *p, size_t n,
                                                         unsigned char byte) {
    const __m256i needle = _mm256_set1_epi8((char)byte), zero = _mm256_setzero_si256();
    __m256i sums = zero;
    size_t i = 0;
    while (n - i >= 32) {
        __m256i lanes = zero;
        size_t rounds = (n - i) / 32 > 255 ? 255 : (n - i) / 32;
        for (size_t r = 0; r < rounds; r++, i += 32) {
            __m256i block = _mm256_loadu_si256((const __m256i *)(p + i));
            lanes = _mm256_sub_epi8(lanes, _mm256_cmpeq_epi8(block, needle));
        }
        sums = _mm256_add_epi64(sums, _mm256_sad_epu8(lanes, zero));
    }
    uint64_t parts[4];
    _mm256_storeu_si256((__m256i *)parts, sums);
    size_t total = parts[0] + parts[1] + parts[2] + parts[3];
    for (; i < n; i++) total += p[i] == byte;
    return total;
}

static size_t count_sse2(const unsigned char *p, size_t n, unsigned char byte) {
    const __m128i needle = _mm_set1_epi8((char)byte), zero = _mm_setzero_si128();
    __m128i sums = zero;
    size_t i = 0;
    while (n - i >= 16) {
        __m128i lanes = zero;
        size_t rounds = (n - i) / 16 > 255 ? 255 : (n - i) / 16;
        for (size_t r = 0; r < rounds; r++, i += 16) {
            __m128i block = _mm_loadu_si128((const __m128i *)(p + i));
            lanes = _mm_sub_epi8(lanes, _mm_cmpeq_epi8(block, needle));
        }
        sums = _mm_add_epi64(sums, _mm_sad_epu8(lanes, zero));
    }
    uint64_t parts[2];
    _mm_storeu_si128((__m128i *)parts, sums);
    size_t total = parts[0] + parts[1];
    for (; i < n; i++) total += p[i] == byte;
    return total;
}

/* Start positions whose first and last bytes both match are checked whole: 32 at a time. */
__attribute__((target("avx2"))) static void search_avx2(const unsigned char *p, size_t from,
                                                        size_t last, const unsigned char *n,
                                                        size_t len, Hits *hits) {
    const __m256i first = _mm256_set1_epi8((char)n[0]), final = _mm256_set1_epi8((char)n[len - 1]);
    size_t at = from;
    while (last >= 31 && at <= last - 31) {
        __m256i head = _mm256_loadu_si256((const __m256i *)(p + at));
        __m256i tail = _mm256_loadu_si256((const __m256i *)(p + at + len - 1));
        __m256i both = _mm256_and_si256(_mm256_cmpeq_epi8(head, first), _mm256_cmpeq_epi8(tail, final));
        unsigned int mask = (unsigned int)_mm256_movemask_epi8(both);
        while (mask) {
            size_t start = at + (size_t)__builtin_ctz(mask);
            if (memcmp(p + start, n, len) == 0) hits_add(hits, start + len);
            mask &= mask - 1;
        }
        at += 32;
    }
    if (at <= last) search_scalar(p, at, last, n, len, hits);
}

static void search_sse2(const unsigned char *p, size_t from, size_t last, const unsigned char *n,
                        size_t len, Hits *hits) {
    const __m128i first = _mm_set1_epi8((char)n[0]), final = _mm_set1_epi8((char)n[len - 1]);
    size_t at = from;
    while (last >= 15 && at <= last - 15) {
        __m128i head = _mm_loadu_si128((const __m128i *)(p + at));
        __m128i tail = _mm_loadu_si128((const __m128i *)(p + at + len - 1));
        __m128i both = _mm_and_si128(_mm_cmpeq_epi8(head, first), _mm_cmpeq_epi8(tail, final));
        unsigned int mask = (unsigned int)_mm_movemask_epi8(both);
        while (mask) {
            size_t start = at + (size_t)__builtin_ctz(mask);
            if (memcmp(p + start, n, len) == 0) hits_add(hits, start + len);
            mask &= mask - 1;
        }
        at += 16;
    }
    if (at <= last) search_scalar(p, at, last, n, len, hits);
}

static int has_avx2 = -1;

static void search_in(const unsigned char *p, size_t from, size_t last, const unsigned char *n,
                      size_t len, Hits *hits) {
    if (has_avx2) search_avx2(p, from, last, n, len, hits);
    else search_sse2(p, from, last, n, len, hits);
}

static size_t count_in(const unsigned char *p, size_t n, unsigned char byte) {
    return has_avx2 ? count_avx2(p, n, byte) : count_sse2(p, n, byte);
}

static void detect(void) {
    __builtin_cpu_init();
    has_avx2 = __builtin_cpu_supports("avx2") ? 1 : 0;
}
#else
static size_t count_in(const unsigned char *p, size_t n, unsigned char byte) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += p[i] == byte;
    return total;
}

static void search_in(const unsigned char *p, size_t from, size_t last, const unsigned char *n,
                      size_t len, Hits *hits) {
    search_scalar(p, from, last, n, len, hits);
}

static void detect(void) {}
#endif

static PyObject *count_byte(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer view;
    int byte;
    if (!PyArg_ParseTuple(args, "y*i:count_byte", &view, &byte)) return NULL;
    size_t total;
    if (view.len < (64 << 10)) { /* a line or a seam: not worth waiting to take the GIL back */
        total = count_in(view.buf, (size_t)view.len, (unsigned char)byte);
    } else {
        Py_BEGIN_ALLOW_THREADS
        total = count_in(view.buf, (size_t)view.len, (unsigned char)byte);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&view);
    return PyLong_FromSize_t(total);
}

/* pread(fd, buffer, offset) until the buffer is full or the file ends, counting '\n' in each
 * piece just read. Returns (bytes read, line breaks among them). */
static PyObject *pread_counting(PyObject *self, PyObject *args) {
    (void)self;
    int fd;
    long long offset;
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "iLw*:pread_counting", &fd, &offset, &view)) return NULL;
    const size_t piece = 256 << 10; /* stays in a core's L2 between the read and the count */
    unsigned char *buf = view.buf;
    size_t want = (size_t)view.len, got = 0, lines = 0;
    int failure = 0;
    Py_BEGIN_ALLOW_THREADS
    while (got < want) {
        size_t ask = want - got < piece ? want - got : piece;
        ssize_t done = pread(fd, buf + got, ask, (off_t)(offset + (long long)got));
        if (done < 0) {
            if (errno == EINTR) continue;
            failure = errno;
            break;
        }
        if (done == 0) break; /* end of file */
        lines += count_in(buf + got, (size_t)done, '\n');
        got += (size_t)done;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    if (failure) {
        errno = failure;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return Py_BuildValue("nn", (Py_ssize_t)got, (Py_ssize_t)lines);
}

/* Self-tests: run the SSE2 paths on a CPU with AVX2 (``use_avx2(False)``), then restore. */
static PyObject *use_avx2(PyObject *self, PyObject *arg) {
    (void)self;
    int wanted = PyObject_IsTrue(arg);
    if (wanted < 0) return NULL;
#if defined(__x86_64__) && defined(__GNUC__)
    int before = has_avx2;
    detect();
    if (!wanted) has_avx2 = 0;
    return PyBool_FromLong(before);
#else
    return PyBool_FromLong(0);
#endif
}

static int by_offset(const void *a, const void *b) {
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

#define MAX_NEEDLES 32

typedef struct {
    const unsigned char *text[MAX_NEEDLES];
    size_t len[MAX_NEEDLES], next[MAX_NEEDLES], count;
} Needles;

/* pread_counting, and the end offsets (ascending) of every match of the plain ``needles`` in
 * what was read, each piece searched right after it is read. Returns (read, breaks, ends). */
static PyObject *pread_scanning(PyObject *self, PyObject *args) {
    (void)self;
    int fd;
    long long offset;
    Py_buffer view;
    PyObject *given;
    if (!PyArg_ParseTuple(args, "iLw*O!:pread_scanning", &fd, &offset, &view, &PyTuple_Type,
                          &given))
        return NULL;
    Needles needles;
    needles.count = (size_t)PyTuple_GET_SIZE(given);
    if (needles.count > MAX_NEEDLES) {
        PyBuffer_Release(&view);
        return PyErr_Format(PyExc_ValueError, "at most %d needles", MAX_NEEDLES);
    }
    for (size_t k = 0; k < needles.count; k++) {
        PyObject *needle = PyTuple_GET_ITEM(given, (Py_ssize_t)k);
        if (!PyBytes_Check(needle) || PyBytes_GET_SIZE(needle) == 0) {
            PyBuffer_Release(&view);
            return PyErr_Format(PyExc_TypeError, "needles must be non-empty bytes");
        }
        needles.text[k] = (const unsigned char *)PyBytes_AS_STRING(needle);
        needles.len[k] = (size_t)PyBytes_GET_SIZE(needle);
        needles.next[k] = 0; /* the first start position not yet examined */
    }
    const size_t piece = 256 << 10;
    unsigned char *buf = view.buf;
    size_t want = (size_t)view.len, got = 0, lines = 0;
    Hits hits = {NULL, 0, 0, 0};
    int failure = 0;
    Py_BEGIN_ALLOW_THREADS
    while (got < want) {
        size_t ask = want - got < piece ? want - got : piece;
        ssize_t done = pread(fd, buf + got, ask, (off_t)(offset + (long long)got));
        if (done < 0) {
            if (errno == EINTR) continue;
            failure = errno;
            break;
        }
        if (done == 0) break;
        lines += count_in(buf + got, (size_t)done, '\n');
        got += (size_t)done;
        /* Each needle from where it was left: across the previous piece's end too. */
        for (size_t k = 0; k < needles.count; k++) {
            size_t len = needles.len[k];
            if (got < len || got - len < needles.next[k]) continue;
            search_in(buf, needles.next[k], got - len, needles.text[k], len, &hits);
            needles.next[k] = got - len + 1;
        }
    }
    if (!failure && !hits.failed) qsort(hits.items, hits.len, sizeof(size_t), by_offset);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    PyObject *ends = NULL;
    if (failure) {
        errno = failure;
        PyErr_SetFromErrno(PyExc_OSError);
    } else if (hits.failed) {
        PyErr_NoMemory();
    } else if ((ends = PyList_New((Py_ssize_t)hits.len)) != NULL) {
        for (size_t i = 0; i < hits.len; i++) {
            PyObject *end = PyLong_FromSize_t(hits.items[i]);
            if (end == NULL) {
                Py_CLEAR(ends);
                break;
            }
            PyList_SET_ITEM(ends, (Py_ssize_t)i, end);
        }
    }
    free(hits.items);
    if (ends == NULL) return NULL;
    return Py_BuildValue("nnN", (Py_ssize_t)got, (Py_ssize_t)lines, ends);
}

static PyMethodDef methods[] = {
    {"count_byte", count_byte, METH_VARARGS, "count_byte(buffer, byte) -> occurrences of byte"},
    {"use_avx2", use_avx2, METH_O, "use_avx2(allowed) -> whether AVX2 was in use (self-tests)"},
    {"pread_counting", pread_counting, METH_VARARGS,
     "pread_counting(fd, offset, buffer) -> (bytes read, line breaks among them)"},
    {"pread_scanning", pread_scanning, METH_VARARGS,
     "pread_scanning(fd, offset, buffer, needles) -> (bytes read, line breaks, match ends)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_native", "Big logs: breaks counted, plain needles found.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__native(void) {
    detect();
    return PyModule_Create(&module);
}
