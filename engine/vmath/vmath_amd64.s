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

// winogradInAVX2(q0, q1, q2, q3, p0, p1, p2, p3 *float32, n int):
// q0 = p0 − p2, q1 = p1 + p2, q2 = p2 − p1, q3 = p1 − p3, 8 floats a round.
TEXT ·winogradInAVX2(SB), NOSPLIT, $0-72
	MOVQ q0+0(FP), R8
	MOVQ q1+8(FP), R9
	MOVQ q2+16(FP), R10
	MOVQ q3+24(FP), R11
	MOVQ p0+32(FP), SI
	MOVQ p1+40(FP), DI
	MOVQ p2+48(FP), DX
	MOVQ p3+56(FP), BX
	MOVQ n+64(FP), CX
	XORQ AX, AX

wiloop:
	CMPQ    CX, $8
	JL      widone
	VMOVUPS (SI)(AX*1), Y0
	VMOVUPS (DI)(AX*1), Y1
	VMOVUPS (DX)(AX*1), Y2
	VMOVUPS (BX)(AX*1), Y3
	VSUBPS  Y2, Y0, Y4 // p0 − p2
	VADDPS  Y2, Y1, Y5 // p1 + p2
	VSUBPS  Y1, Y2, Y6 // p2 − p1
	VSUBPS  Y3, Y1, Y7 // p1 − p3
	VMOVUPS Y4, (R8)(AX*1)
	VMOVUPS Y5, (R9)(AX*1)
	VMOVUPS Y6, (R10)(AX*1)
	VMOVUPS Y7, (R11)(AX*1)
	ADDQ    $32, AX
	SUBQ    $8, CX
	JMP     wiloop

widone:
	VZEROUPPER
	RET

// winogradOutAVX2(q0, q1, p0, p1, p2, p3, bias *float32, n int):
// q0 = p0 + p1 + p2 + bias, q1 = p1 − p2 − p3 + bias, 8 floats a round.
TEXT ·winogradOutAVX2(SB), NOSPLIT, $0-64
	MOVQ q0+0(FP), R8
	MOVQ q1+8(FP), R9
	MOVQ p0+16(FP), SI
	MOVQ p1+24(FP), DI
	MOVQ p2+32(FP), DX
	MOVQ p3+40(FP), BX
	MOVQ bias+48(FP), R10
	MOVQ n+56(FP), CX
	XORQ AX, AX

woloop:
	CMPQ    CX, $8
	JL      wodone
	VMOVUPS (SI)(AX*1), Y0
	VMOVUPS (DI)(AX*1), Y1
	VMOVUPS (DX)(AX*1), Y2
	VMOVUPS (BX)(AX*1), Y3
	VMOVUPS (R10)(AX*1), Y4
	VADDPS  Y1, Y0, Y0 // p0 + p1
	VADDPS  Y2, Y0, Y0 // + p2
	VADDPS  Y4, Y0, Y0 // + bias
	VSUBPS  Y2, Y1, Y1 // p1 − p2
	VSUBPS  Y3, Y1, Y1 // − p3
	VADDPS  Y4, Y1, Y1 // + bias
	VMOVUPS Y0, (R8)(AX*1)
	VMOVUPS Y1, (R9)(AX*1)
	ADDQ    $32, AX
	SUBQ    $8, CX
	JMP     woloop

wodone:
	VZEROUPPER
	RET
