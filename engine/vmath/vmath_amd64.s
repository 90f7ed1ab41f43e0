#include "textflag.h"

// Constants of Exp, broadcast from here: the clamp bounds, log2(e) and the
// 0.5 of the rounding, ln 2 split in a high and a low part (Cody-Waite), the
// Taylor coefficients 1/720 … 1/6 of e^r, and 1.
DATA expc<>+0(SB)/4, $0x42b00000  // 88
DATA expc<>+4(SB)/4, $0xc2ae0000  // -87
DATA expc<>+8(SB)/4, $0x3fb8aa3b  // log2(e)
DATA expc<>+12(SB)/4, $0x3f000000 // 0.5
DATA expc<>+16(SB)/4, $0x3f318000 // ln2 high
DATA expc<>+20(SB)/4, $0xb95e8083 // ln2 low
DATA expc<>+24(SB)/4, $0x3ab60b61 // 1/720
DATA expc<>+28(SB)/4, $0x3c088889 // 1/120
DATA expc<>+32(SB)/4, $0x3d2aaaab // 1/24
DATA expc<>+36(SB)/4, $0x3e2aaaab // 1/6
DATA expc<>+40(SB)/4, $0x3f800000 // 1
GLOBL expc<>(SB), RODATA|NOPTR, $44

// The float exponent bias, eight times, added to k before it is shifted
// into the exponent bits.
DATA bias<>+0(SB)/4, $127
DATA bias<>+4(SB)/4, $127
DATA bias<>+8(SB)/4, $127
DATA bias<>+12(SB)/4, $127
DATA bias<>+16(SB)/4, $127
DATA bias<>+20(SB)/4, $127
DATA bias<>+24(SB)/4, $127
DATA bias<>+28(SB)/4, $127
GLOBL bias<>(SB), RODATA|NOPTR, $32

// LOADEXP puts Exp's constants in Y5..Y15.
#define LOADEXP \
	VBROADCASTSS expc<>+0(SB), Y5;  \
	VBROADCASTSS expc<>+4(SB), Y6;  \
	VBROADCASTSS expc<>+8(SB), Y7;  \
	VBROADCASTSS expc<>+12(SB), Y8; \
	VBROADCASTSS expc<>+16(SB), Y9; \
	VBROADCASTSS expc<>+20(SB), Y10; \
	VBROADCASTSS expc<>+24(SB), Y11; \
	VBROADCASTSS expc<>+28(SB), Y12; \
	VBROADCASTSS expc<>+32(SB), Y13; \
	VBROADCASTSS expc<>+36(SB), Y14; \
	VBROADCASTSS expc<>+40(SB), Y15

// EXP8 replaces the eight floats of Y0 by their exponentials, the same
// steps as the scalar Exp: clamp, k = floor(x·log2e + 0.5), r = x − k·ln2,
// e^r by Horner's rule, times 2^k built in the exponent bits. Y1 and Y2
// are scratch; Y5..Y15 hold LOADEXP's constants.
#define EXP8 \
	VMINPS       Y5, Y0, Y0;         \
	VMAXPS       Y6, Y0, Y0;         \
	VMOVAPS      Y7, Y1;             \
	VFMADD213PS  Y8, Y0, Y1;         \
	VROUNDPS     $1, Y1, Y1;         \
	VFNMADD231PS Y9, Y1, Y0;         \
	VFNMADD231PS Y10, Y1, Y0;        \
	VMOVAPS      Y11, Y2;            \
	VFMADD213PS  Y12, Y0, Y2;        \
	VFMADD213PS  Y13, Y0, Y2;        \
	VFMADD213PS  Y14, Y0, Y2;        \
	VFMADD213PS  Y8, Y0, Y2;         \
	VFMADD213PS  Y15, Y0, Y2;        \
	VFMADD213PS  Y15, Y0, Y2;        \
	VCVTTPS2DQ   Y1, Y1;             \
	VPADDD       bias<>(SB), Y1, Y1; \
	VPSLLD       $23, Y1, Y1;        \
	VMULPS       Y1, Y2, Y0

// func expShiftSumAVX2(dst, src *float32, n int, shift float32) float32
TEXT ·expShiftSumAVX2(SB), NOSPLIT, $0-36
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS shift+24(FP), Y3
	VXORPS       Y4, Y4, Y4
	LOADEXP

esloop:
	CMPQ    CX, $8
	JL      esdone
	VMOVUPS (SI), Y0
	VSUBPS  Y3, Y0, Y0
	EXP8
	VMOVUPS Y0, (DI)
	VADDPS  Y0, Y4, Y4
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     esloop

esdone:
	VEXTRACTF128 $1, Y4, X0
	VADDPS       X0, X4, X4
	VHADDPS      X4, X4, X4
	VHADDPS      X4, X4, X4
	VZEROUPPER
	MOVSS        X4, ret+32(FP)
	RET

// func siluAVX2(dst, src *float32, n int)
TEXT ·siluAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	LOADEXP

siloop:
	CMPQ    CX, $8
	JL      sidone
	VMOVUPS (SI), Y3
	VXORPS  Y0, Y0, Y0
	VSUBPS  Y3, Y0, Y0 // −x
	EXP8
	VADDPS  Y15, Y0, Y0 // 1 + e^−x
	VDIVPS  Y0, Y3, Y3
	VMOVUPS Y3, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     siloop

sidone:
	VZEROUPPER
	RET

// func reluAVX2(dst, src *float32, n int)
// dst = ((0 > src) ? 0 : src) + 0: VMAXPS returns its second source when
// either is NaN or both are zero, so NaN passes through, and adding +0
// turns the −0 it lets through into +0, as max does.
TEXT ·reluAVX2(SB), NOSPLIT, $0-24
	MOVQ   dst+0(FP), DI
	MOVQ   src+8(FP), SI
	MOVQ   n+16(FP), CX
	VXORPS Y1, Y1, Y1

reloop:
	CMPQ    CX, $8
	JL      redone
	VMAXPS  (SI), Y1, Y0
	VADDPS  Y1, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     reloop

redone:
	VZEROUPPER
	RET

// func maxAVX2(x *float32, n int) float32
TEXT ·maxAVX2(SB), NOSPLIT, $0-20
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSS (SI), Y0

mxloop:
	CMPQ    CX, $8
	JL      mxdone
	VMAXPS  (SI), Y0, Y0
	ADDQ    $32, SI
	SUBQ    $8, CX
	JMP     mxloop

mxdone:
	VEXTRACTF128 $1, Y0, X1
	VMAXPS       X1, X0, X0
	VPERMILPS    $0x4e, X0, X1
	VMAXPS       X1, X0, X0
	VPERMILPS    $0xb1, X0, X1
	VMAXPS       X1, X0, X0
	VZEROUPPER
	MOVSS        X0, ret+16(FP)
	RET

// winogradInAVX2(q *float32, qs int, p *float32, ps, n int): F(4×4, 3×3)'s
// input step (vmath.WinogradIn), 8 floats a round; pₖ at p + k·ps and qₖ at
// q + k·qs (strides in bytes). SI and DI point at p0 and p3, R8 and R9 at q0
// and q3, so that every vector is one base plus 0, 1 or 2 strides.
TEXT ·winogradInAVX2(SB), NOSPLIT, $0-40
	MOVQ q+0(FP), R8
	MOVQ qs+8(FP), R10
	MOVQ p+16(FP), SI
	MOVQ ps+24(FP), BX
	MOVQ n+32(FP), CX
	LEAQ (SI)(BX*2), DI
	ADDQ BX, DI
	LEAQ (R8)(R10*2), R9
	ADDQ R10, R9
	MOVL $0x40800000, AX // 4
	VMOVD AX, X12
	VBROADCASTSS X12, Y12
	MOVL $0x40a00000, AX // 5
	VMOVD AX, X13
	VBROADCASTSS X13, Y13

wiloop:
	CMPQ    CX, $8
	JL      widone
	VMOVUPS (SI), Y0
	VMOVUPS (SI)(BX*1), Y1
	VMOVUPS (SI)(BX*2), Y2
	VMOVUPS (DI), Y3
	VMOVUPS (DI)(BX*1), Y4
	VMOVUPS (DI)(BX*2), Y5
	VMOVAPS      Y4, Y6
	VFMADD231PS  Y12, Y0, Y6 // p4 + 4p0
	VFNMADD231PS Y13, Y2, Y6 // − 5p2: q0
	VMOVAPS      Y5, Y7
	VFMADD231PS  Y12, Y1, Y7 // p5 + 4p1
	VFNMADD231PS Y13, Y3, Y7 // − 5p3: q5
	VMOVAPS      Y4, Y8
	VFNMADD231PS Y12, Y2, Y8 // t0 = p4 − 4p2
	VMOVAPS      Y3, Y9
	VFNMADD231PS Y12, Y1, Y9 // t1 = p3 − 4p1
	VADDPS       Y9, Y8, Y10 // q1 = t0 + t1
	VSUBPS       Y9, Y8, Y11 // q2 = t0 − t1
	VSUBPS       Y2, Y4, Y8  // t2 = p4 − p2
	VSUBPS       Y1, Y3, Y9  // p3 − p1
	VADDPS       Y9, Y9, Y9  // t3 = 2(p3 − p1)
	VADDPS       Y9, Y8, Y0  // q3 = t2 + t3
	VSUBPS       Y9, Y8, Y1  // q4 = t2 − t3
	VMOVUPS Y6, (R8)
	VMOVUPS Y10, (R8)(R10*1)
	VMOVUPS Y11, (R8)(R10*2)
	VMOVUPS Y0, (R9)
	VMOVUPS Y1, (R9)(R10*1)
	VMOVUPS Y7, (R9)(R10*2)
	ADDQ    $32, SI
	ADDQ    $32, DI
	ADDQ    $32, R8
	ADDQ    $32, R9
	SUBQ    $8, CX
	JMP     wiloop

widone:
	VZEROUPPER
	RET

// winogradOutAVX2(q *float32, qs int, p *float32, ps int, bias *float32, n int):
// F(4×4, 3×3)'s output step (vmath.WinogradOut), 8 floats a round; the
// strides in bytes as in winogradInAVX2.
TEXT ·winogradOutAVX2(SB), NOSPLIT, $0-48
	MOVQ q+0(FP), R8
	MOVQ qs+8(FP), R10
	MOVQ p+16(FP), SI
	MOVQ ps+24(FP), BX
	MOVQ bias+32(FP), DX
	MOVQ n+40(FP), CX
	LEAQ (SI)(BX*2), DI
	ADDQ BX, DI
	LEAQ (R8)(R10*2), R9
	ADDQ R10, R9
	MOVL $0x40000000, AX // 2
	VMOVD AX, X12
	VBROADCASTSS X12, Y12
	MOVL $0x40800000, AX // 4
	VMOVD AX, X13
	VBROADCASTSS X13, Y13
	MOVL $0x41000000, AX // 8
	VMOVD AX, X14
	VBROADCASTSS X14, Y14

woloop:
	CMPQ    CX, $8
	JL      wodone
	VMOVUPS (SI), Y0
	VMOVUPS (SI)(BX*1), Y1
	VMOVUPS (SI)(BX*2), Y2
	VMOVUPS (DI), Y3
	VMOVUPS (DI)(BX*1), Y4
	VMOVUPS (DI)(BX*2), Y5
	VMOVUPS (DX), Y15       // bias
	VADDPS  Y2, Y1, Y6      // s12
	VSUBPS  Y2, Y1, Y7      // d12
	VADDPS  Y4, Y3, Y8      // s34
	VSUBPS  Y4, Y3, Y9      // d34
	VADDPS  Y6, Y0, Y0      // p0 + s12
	VADDPS  Y8, Y0, Y0      // + s34
	VADDPS  Y15, Y0, Y0     // + bias: q0
	VADDPS  Y15, Y7, Y1     // d12 + bias
	VFMADD231PS Y12, Y9, Y1 // + 2·d34: q1
	VADDPS  Y15, Y6, Y2     // s12 + bias
	VFMADD231PS Y13, Y8, Y2 // + 4·s34: q2
	VADDPS  Y15, Y7, Y3     // d12 + bias
	VADDPS  Y5, Y3, Y3      // + p5
	VFMADD231PS Y14, Y9, Y3 // + 8·d34: q3
	VMOVUPS Y0, (R8)
	VMOVUPS Y1, (R8)(R10*1)
	VMOVUPS Y2, (R8)(R10*2)
	VMOVUPS Y3, (R9)
	ADDQ    $32, SI
	ADDQ    $32, DI
	ADDQ    $32, DX
	ADDQ    $32, R8
	ADDQ    $32, R9
	SUBQ    $8, CX
	JMP     woloop

wodone:
	VZEROUPPER
	RET
