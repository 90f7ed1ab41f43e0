#include "textflag.h"

// One k step of the 6×16 micro-kernel. Y0..Y11 hold the 6×16 block of
// accumulators (two YMM registers per row), Y12/Y13 the 16 packed B values of
// this step and Y14/Y15 alternate as the broadcast A value so that the next
// broadcast does not have to wait for the FMAs that read the previous one.
// A is read through strides: rows 0-2 at SI, SI+R9, SI+2·R9 and rows 3-5 at
// R11, R11+R9, R11+2·R9, both pointers moving R12 bytes per step. That one
// addressing scheme covers packed A, row-major A and transposed A alike.
// bo is the byte offset of this step in the packed B panel (16 floats/step).
#define STEP(bo) \
	VMOVUPS      bo(DI), Y12;        \
	VMOVUPS      bo+32(DI), Y13;     \
	VBROADCASTSS (SI), Y14;          \
	VFMADD231PS  Y12, Y14, Y0;       \
	VFMADD231PS  Y13, Y14, Y1;       \
	VBROADCASTSS (SI)(R9*1), Y15;    \
	VFMADD231PS  Y12, Y15, Y2;       \
	VFMADD231PS  Y13, Y15, Y3;       \
	VBROADCASTSS (SI)(R9*2), Y14;    \
	VFMADD231PS  Y12, Y14, Y4;       \
	VFMADD231PS  Y13, Y14, Y5;       \
	VBROADCASTSS (R11), Y15;         \
	VFMADD231PS  Y12, Y15, Y6;       \
	VFMADD231PS  Y13, Y15, Y7;       \
	VBROADCASTSS (R11)(R9*1), Y14;   \
	VFMADD231PS  Y12, Y14, Y8;       \
	VFMADD231PS  Y13, Y14, Y9;       \
	VBROADCASTSS (R11)(R9*2), Y15;   \
	VFMADD231PS  Y12, Y15, Y10;      \
	VFMADD231PS  Y13, Y15, Y11;      \
	ADDQ         R12, SI;            \
	ADDQ         R12, R11

// Scale one row of accumulators by alpha (in Y12) and store it.
#define STORE0(lo, hi) \
	VMULPS  Y12, lo, lo; \
	VMULPS  Y12, hi, hi; \
	VMOVUPS lo, (DX);    \
	VMOVUPS hi, 32(DX);  \
	ADDQ    R8, DX

// Scale one row by alpha (Y12), add beta (Y13) times the old C row and store.
#define STOREB(lo, hi) \
	VMULPS      Y12, lo, lo;   \
	VMULPS      Y12, hi, hi;   \
	VMOVUPS     (DX), Y14;     \
	VMOVUPS     32(DX), Y15;   \
	VFMADD231PS Y14, Y13, lo;  \
	VFMADD231PS Y15, Y13, hi;  \
	VMOVUPS     lo, (DX);      \
	VMOVUPS     hi, 32(DX);    \
	ADDQ        R8, DX

// PREFETCH_C_ROW touches the two cache lines of the C row at R10 (a row of
// the tile is 16 floats, 64 bytes, possibly straddling two lines) and
// steps R10 to the next row (R8 bytes on).
#define PREFETCH_C_ROW PREFETCHT0 (R10); PREFETCHT0 60(R10); ADDQ R8, R10

// func kernel6x16AVX2(k int, a *float32, rsA, csA int, b, c *float32, ldc int, alpha, beta float32)
TEXT ·kernel6x16AVX2(SB), NOSPLIT, $0-64
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ rsA+16(FP), R9
	MOVQ csA+24(FP), R12
	MOVQ b+32(FP), DI
	MOVQ c+40(FP), DX
	MOVQ ldc+48(FP), R8
	SHLQ $2, R9
	SHLQ $2, R12
	SHLQ $2, R8
	LEAQ (R9)(R9*2), R11
	ADDQ SI, R11

	// Touch the C tile now so its lines arrive while the k loop runs.
	MOVQ DX, R10
	PREFETCH_C_ROW
	PREFETCH_C_ROW
	PREFETCH_C_ROW
	PREFETCH_C_ROW
	PREFETCH_C_ROW
	PREFETCH_C_ROW

	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11

	CMPQ CX, $4
	JLT  tail

loop4:
	STEP(0)
	STEP(64)
	STEP(128)
	STEP(192)
	ADDQ $256, DI
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  loop4

tail:
	TESTQ CX, CX
	JEQ   done

loop1:
	STEP(0)
	ADDQ $64, DI
	DECQ CX
	JNE  loop1

done:
	VBROADCASTSS alpha+56(FP), Y12

	// beta == 0 (either sign) must not read C: it may hold NaN or garbage.
	MOVL beta+60(FP), AX
	ANDL $0x7fffffff, AX
	JNE  withbeta

	STORE0(Y0, Y1)
	STORE0(Y2, Y3)
	STORE0(Y4, Y5)
	STORE0(Y6, Y7)
	STORE0(Y8, Y9)
	STORE0(Y10, Y11)
	VZEROUPPER
	RET

withbeta:
	VBROADCASTSS beta+60(FP), Y13
	STOREB(Y0, Y1)
	STOREB(Y2, Y3)
	STOREB(Y4, Y5)
	STOREB(Y6, Y7)
	STOREB(Y8, Y9)
	STOREB(Y10, Y11)
	VZEROUPPER
	RET
