package org.tfdiffusion.sampling;

import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;

/**
 * What a sampling loop does to x after each step, {@code x ← hook_k(x)} (inpainting's known region,
 * RePaint's jumps back), built once into the compiled loop's body or the host loop's step graph.
 *
 * <p>The compiled loop's body sees nothing of the outer graph: the tensors the hook reads (the
 * original image, the mask) are named by {@link #inputs()}, enter the loop as loop invariants and
 * come back to {@link #apply} as that body's operands, in the same order. Constants (per-step
 * coefficient tables) can be built inside {@link #apply}.
 */
public interface StepHook {
  /** The outer-graph tensors {@link #apply} reads, in order. */
  List<Operand<?>> inputs();

  /**
   * Builds {@code hook_k(x)}.
   *
   * @param tf the op factory of the body (compiled loop) or of the step graph (host loop)
   * @param k int32 scalar: the loop's step index, 0..K-1 along the trajectory's plan
   * @param x x after step k, float32 [B, H, W, C]
   * @param seeds int64 [B], the rows' seeds, for noise drawn with {@link RowNoise}
   * @param inputs {@link #inputs()} as seen by {@code tf}
   * @return the new x, same shape
   */
  Operand<TFloat32> apply(
      Ops tf,
      Operand<TInt32> k,
      Operand<TFloat32> x,
      Operand<TInt64> seeds,
      List<Operand<?>> inputs);
}
