/*
 * XOR masking kernels for WebSocket payloads (RFC 6455 section 5.3).
 *
 * One entry point, aws_mask(), masks src into dst (they may be the same
 * buffer) with a 4-byte key.  The work is done 16 or 32 bytes per step:
 * on x86-64 an AVX2 kernel is chosen at run time when the CPU has AVX2,
 * else the SSE2 kernel every x86-64 CPU has; elsewhere a 64-bit word loop
 * that compilers vectorise for the baseline instruction set (NEON on
 * aarch64).  Nothing here needs -march=native, so one binary runs on every
 * CPU of its platform.
 */
#ifndef ASYNCWEBSOCKETS_MASK_KERNELS_H
#define ASYNCWEBSOCKETS_MASK_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Bytes masked one at a time after the wide loops (always < 8). */
static inline void aws_mask_tail(const unsigned char *src, unsigned char *dst,
                                 size_t start, size_t n, const unsigned char *key)
{
    for (size_t i = start; i < n; i++) {
        dst[i] = src[i] ^ key[i & 3];
    }
}

/* Portable: 64-bit words; i stays a multiple of 4, so the key phase holds. */
static inline void aws_mask_words(const unsigned char *src, unsigned char *dst,
                                  size_t n, const unsigned char *key)
{
    unsigned char key8[8] = {key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]};
    uint64_t k;
    memcpy(&k, key8, 8);
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        uint64_t a, b, c, d;
        memcpy(&a, src + i, 8);
        memcpy(&b, src + i + 8, 8);
        memcpy(&c, src + i + 16, 8);
        memcpy(&d, src + i + 24, 8);
        a ^= k; b ^= k; c ^= k; d ^= k;
        memcpy(dst + i, &a, 8);
        memcpy(dst + i + 8, &b, 8);
        memcpy(dst + i + 16, &c, 8);
        memcpy(dst + i + 24, &d, 8);
    }
    for (; i + 8 <= n; i += 8) {
        uint64_t a;
        memcpy(&a, src + i, 8);
        a ^= k;
        memcpy(dst + i, &a, 8);
    }
    aws_mask_tail(src, dst, i, n, key);
}

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#define AWS_MASK_X86 1
#include <immintrin.h>

static inline void aws_mask_sse2(const unsigned char *src, unsigned char *dst,
                                 size_t n, const unsigned char *key)
{
    int32_t k32;
    memcpy(&k32, key, 4);
    const __m128i k = _mm_set1_epi32(k32);
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m128i a = _mm_loadu_si128((const __m128i *)(src + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(src + i + 16));
        __m128i c = _mm_loadu_si128((const __m128i *)(src + i + 32));
        __m128i d = _mm_loadu_si128((const __m128i *)(src + i + 48));
        _mm_storeu_si128((__m128i *)(dst + i), _mm_xor_si128(a, k));
        _mm_storeu_si128((__m128i *)(dst + i + 16), _mm_xor_si128(b, k));
        _mm_storeu_si128((__m128i *)(dst + i + 32), _mm_xor_si128(c, k));
        _mm_storeu_si128((__m128i *)(dst + i + 48), _mm_xor_si128(d, k));
    }
    for (; i + 16 <= n; i += 16) {
        __m128i a = _mm_loadu_si128((const __m128i *)(src + i));
        _mm_storeu_si128((__m128i *)(dst + i), _mm_xor_si128(a, k));
    }
    aws_mask_words(src + i, dst + i, n - i, key);
}

__attribute__((target("avx2")))
static void aws_mask_avx2(const unsigned char *src, unsigned char *dst,
                          size_t n, const unsigned char *key)
{
    int32_t k32;
    memcpy(&k32, key, 4);
    const __m256i k = _mm256_set1_epi32(k32);
    size_t i = 0;
    for (; i + 128 <= n; i += 128) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(src + i));
        __m256i b = _mm256_loadu_si256((const __m256i *)(src + i + 32));
        __m256i c = _mm256_loadu_si256((const __m256i *)(src + i + 64));
        __m256i d = _mm256_loadu_si256((const __m256i *)(src + i + 96));
        _mm256_storeu_si256((__m256i *)(dst + i), _mm256_xor_si256(a, k));
        _mm256_storeu_si256((__m256i *)(dst + i + 32), _mm256_xor_si256(b, k));
        _mm256_storeu_si256((__m256i *)(dst + i + 64), _mm256_xor_si256(c, k));
        _mm256_storeu_si256((__m256i *)(dst + i + 96), _mm256_xor_si256(d, k));
    }
    for (; i + 32 <= n; i += 32) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(src + i));
        _mm256_storeu_si256((__m256i *)(dst + i), _mm256_xor_si256(a, k));
    }
    aws_mask_sse2(src + i, dst + i, n - i, key);
}

/* 0 = not yet probed, 1 = SSE2, 2 = AVX2.  Each module including this
 * header probes once while it is being imported (a single thread), so the
 * value is only read afterwards and threads never race on it. */
static int aws_mask_level = 0;

static inline int aws_mask_probe(void)
{
    if (aws_mask_level == 0) {
        __builtin_cpu_init();
        aws_mask_level = __builtin_cpu_supports("avx2") ? 2 : 1;
    }
    return aws_mask_level;
}
#endif

/* The name of the kernel in use, for benchmarks and bug reports. */
static inline const char *aws_mask_kernel_name(void)
{
#ifdef AWS_MASK_X86
    return aws_mask_probe() == 2 ? "avx2" : "sse2";
#else
    return "words";
#endif
}

/*
 * Mask n bytes of src into dst with key, starting at key byte `offset`
 * (the payload position of src[0], modulo 4).
 */
static inline void aws_mask(const unsigned char *src, unsigned char *dst, size_t n,
                            const unsigned char *key, unsigned int offset)
{
    unsigned char k[4];
    offset &= 3;
    k[0] = key[offset];
    k[1] = key[(offset + 1) & 3];
    k[2] = key[(offset + 2) & 3];
    k[3] = key[(offset + 3) & 3];
    if (n < 16) {
        /* Tiny payloads (pings, short chat messages): no dispatch at all. */
        aws_mask_words(src, dst, n, k);
        return;
    }
#ifdef AWS_MASK_X86
    if (n >= 64 && aws_mask_probe() == 2) {
        aws_mask_avx2(src, dst, n, k);
    } else {
        aws_mask_sse2(src, dst, n, k);
    }
#else
    aws_mask_words(src, dst, n, k);
#endif
}

#endif /* ASYNCWEBSOCKETS_MASK_KERNELS_H */
