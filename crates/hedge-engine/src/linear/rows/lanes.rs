//! The eight f32 lanes the kernels of [`super`] compute in: AVX2 + FMA registers through `pulp`,
//! or portable arrays; and how each weight element is loaded into them.

use super::LANES;

/// Eight f32 lanes and the few operations the kernels need.
pub(in crate::linear) trait Lanes: Copy {
    type V: Copy;
    fn zero(self) -> Self::V;
    fn load(self, a: [f32; LANES]) -> Self::V;
    /// bf16 bit patterns widened to f32: the bits shifted into the high half.
    fn load_bf16(self, a: [u16; LANES]) -> Self::V;
    /// `a · b + c` per lane.
    fn mul_add(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    fn to_array(self, v: Self::V) -> [f32; LANES];
    /// The scalar `a · b + c` of the tail, fused exactly when `mul_add` is.
    fn mul_add_one(self, a: f32, b: f32, c: f32) -> f32;
    /// Asks for the cache line holding `v` (a hint: it never faults, and may do nothing).
    fn prefetch<T>(self, v: &T);
}

#[cfg(target_arch = "x86_64")]
impl Lanes for pulp::x86::V3 {
    type V = pulp::f32x8;

    #[inline(always)]
    fn zero(self) -> pulp::f32x8 {
        self.splat_f32x8(0.0)
    }

    #[inline(always)]
    fn load(self, a: [f32; LANES]) -> pulp::f32x8 {
        pulp::bytemuck::cast(a)
    }

    #[inline(always)]
    fn load_bf16(self, a: [u16; LANES]) -> pulp::f32x8 {
        let wide = self.convert_u16x8_to_u32x8(pulp::bytemuck::cast(a));
        pulp::bytemuck::cast(self.shl_const_u32x8::<16>(wide))
    }

    #[inline(always)]
    fn mul_add(self, a: pulp::f32x8, b: pulp::f32x8, c: pulp::f32x8) -> pulp::f32x8 {
        self.mul_add_f32x8(a, b, c)
    }

    #[inline(always)]
    fn to_array(self, v: pulp::f32x8) -> [f32; LANES] {
        pulp::bytemuck::cast(v)
    }

    #[inline(always)]
    fn mul_add_one(self, a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }

    #[inline(always)]
    fn prefetch<T>(self, v: &T) {
        use std::arch::x86_64::_MM_HINT_T0;
        self.sse
            ._mm_prefetch::<_MM_HINT_T0>((v as *const T).cast::<i8>());
    }
}

/// Plain arrays, multiplied and added separately (a fused multiply-add without hardware support
/// is a slow library call).
#[derive(Clone, Copy)]
pub(super) struct Portable;

impl Lanes for Portable {
    type V = [f32; LANES];

    #[inline(always)]
    fn zero(self) -> [f32; LANES] {
        [0.0; LANES]
    }

    #[inline(always)]
    fn load(self, a: [f32; LANES]) -> [f32; LANES] {
        a
    }

    #[inline(always)]
    fn load_bf16(self, a: [u16; LANES]) -> [f32; LANES] {
        a.map(|b| f32::from_bits(u32::from(b) << 16))
    }

    #[inline(always)]
    fn mul_add(self, a: [f32; LANES], b: [f32; LANES], c: [f32; LANES]) -> [f32; LANES] {
        std::array::from_fn(|l| a[l] * b[l] + c[l])
    }

    #[inline(always)]
    fn to_array(self, v: [f32; LANES]) -> [f32; LANES] {
        v
    }

    #[inline(always)]
    fn mul_add_one(self, a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }

    #[inline(always)]
    fn prefetch<T>(self, _: &T) {}
}

/// A weight element the kernels load straight into lanes: f32, or bf16 as its bits.
pub(super) trait Direct: pulp::bytemuck::Pod + Send + Sync {
    fn load<L: Lanes>(lanes: L, a: [Self; LANES]) -> L::V;
    fn to_f32(self) -> f32;
}

impl Direct for f32 {
    #[inline(always)]
    fn load<L: Lanes>(lanes: L, a: [f32; LANES]) -> L::V {
        lanes.load(a)
    }

    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
}

impl Direct for u16 {
    #[inline(always)]
    fn load<L: Lanes>(lanes: L, a: [u16; LANES]) -> L::V {
        lanes.load_bf16(a)
    }

    #[inline(always)]
    fn to_f32(self) -> f32 {
        f32::from_bits(u32::from(self) << 16)
    }
}
