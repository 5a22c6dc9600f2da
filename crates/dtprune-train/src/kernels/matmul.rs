//! Dense products on host slices through the `gemm` crate (the kernels Burn's Flex backend uses:
//! packed panels, L1/L2/L3 blocking, a register-tiled micro-kernel chosen at run time from the
//! CPU's features). One safe entry point: the operands are strided views whose bounds are checked
//! before the call, so the `unsafe` stays here.

/// A row-major or transposed view of a matrix inside a slice: element `(r, c)` is
/// `data[r · row_stride + c · col_stride]`.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a> View<'a> {
    /// `rows × cols`, row-major with leading dimension `ld`.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize, ld: usize) -> Self {
        Self { data, rows, cols, row_stride: ld, col_stride: 1 }
    }

    /// The transpose of a row-major `cols × rows` matrix with leading dimension `ld`, without a copy.
    pub fn transposed(data: &'a [f32], rows: usize, cols: usize, ld: usize) -> Self {
        Self { data, rows, cols, row_stride: 1, col_stride: ld }
    }

    /// One past the largest offset the view reads.
    fn extent(&self) -> usize {
        if self.rows == 0 || self.cols == 0 {
            return 0;
        }
        (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride + 1
    }
}

/// `c = a · b` (or `c += a · b` when `accumulate`), `c` row-major `a.rows × b.cols` with
/// leading dimension `ldc`, on the calling thread.
///
/// # Panics
/// If the inner dimensions differ or a view or `c` is shorter than its shape and strides say.
pub fn matmul(a: View, b: View, c: &mut [f32], ldc: usize, accumulate: bool) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "matmul: inner dimensions {k} and {} differ", b.rows);
    assert!(a.data.len() >= a.extent() && b.data.len() >= b.extent(), "matmul: an operand is shorter than its view");
    if m == 0 || n == 0 {
        return;
    }
    assert!(ldc >= n && c.len() >= (m - 1) * ldc + n, "matmul: the output is shorter than {m}x{n} with leading dimension {ldc}");
    if k == 0 {
        if !accumulate {
            c.chunks_mut(ldc).take(m).for_each(|row| row[..n].fill(0.0));
        }
        return;
    }
    // SAFETY: every offset the kernel reads or writes was bounds-checked above against the
    // views' shapes and strides; `c` is borrowed mutably, so nothing else touches it.
    // `gemm` computes dst := alpha·dst + beta·lhs·rhs, reading dst only when `read_dst`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            ldc as isize,
            accumulate,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_and_accumulation_by_hand() {
        // [1 2; 3 4] · [5 6; 7 8] = [19 22; 43 50]
        let (a, b) = ([1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]);
        let mut c = vec![9.0f32; 4];
        matmul(View::row_major(&a, 2, 2, 2), View::row_major(&b, 2, 2, 2), &mut c, 2, false);
        assert_eq!(c, vec![19.0, 22.0, 43.0, 50.0]);
        matmul(View::row_major(&a, 2, 2, 2), View::row_major(&b, 2, 2, 2), &mut c, 2, true);
        assert_eq!(c, vec![38.0, 44.0, 86.0, 100.0]);
    }

    #[test]
    fn transposed_views_and_leading_dimensions() {
        // aᵀ · b with a = [1 2; 3 4] stored row-major: aᵀ = [1 3; 2 4]; b = [5 6; 7 8].
        // [1·5+3·7, 1·6+3·8; 2·5+4·7, 2·6+4·8] = [26 30; 38 44], written with ldc 3.
        let (a, b) = ([1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]);
        let mut c = vec![-1.0f32; 6];
        matmul(View::transposed(&a, 2, 2, 2), View::row_major(&b, 2, 2, 2), &mut c, 3, false);
        assert_eq!(c, vec![26.0, 30.0, -1.0, 38.0, 44.0, -1.0]);
        // a · bᵀ = [1·5+2·6, 1·7+2·8; 3·5+4·6, 3·7+4·8] = [17 23; 39 53]
        let mut c = vec![0.0f32; 4];
        matmul(View::row_major(&a, 2, 2, 2), View::transposed(&b, 2, 2, 2), &mut c, 2, false);
        assert_eq!(c, vec![17.0, 23.0, 39.0, 53.0]);
    }

    #[test]
    fn empty_inner_dimension_clears_or_keeps() {
        let mut c = vec![3.0f32; 2];
        matmul(View::row_major(&[], 1, 0, 0), View::row_major(&[], 0, 2, 2), &mut c, 2, true);
        assert_eq!(c, vec![3.0, 3.0]);
        matmul(View::row_major(&[], 1, 0, 0), View::row_major(&[], 0, 2, 2), &mut c, 2, false);
        assert_eq!(c, vec![0.0, 0.0]);
    }

    #[test]
    #[should_panic(expected = "shorter")]
    fn short_output_is_refused() {
        let mut c = vec![0.0f32; 3];
        matmul(View::row_major(&[1.0; 4], 2, 2, 2), View::row_major(&[1.0; 4], 2, 2, 2), &mut c, 2, false);
    }
}
