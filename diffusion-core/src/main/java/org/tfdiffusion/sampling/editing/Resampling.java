package org.tfdiffusion.sampling.editing;

import static com.google.common.base.Preconditions.checkArgument;

import java.util.ArrayList;
import java.util.List;

/**
 * RePaint's resampling (Lugmayr et al. 2022, "RePaint: Inpainting using Denoising Diffusion
 * Probabilistic Models", section 4.2 and Algorithm 1): after some steps the sample is noised back
 * by {@code jumpLength} steps with the forward process and those steps run again, so that the
 * generated region and the known one have time to agree. Counted as diffusers' {@code
 * RePaintScheduler} counts it, in steps u = N-1..0 from the end: a jump back starts after the steps
 * u = 0, L, 2L, … with u &lt; N - L, and each of those stretches of L steps runs {@code count}
 * times in all.
 *
 * <pre>
 *   t = N;  while t ≥ 1:  t ← t - 1;  run step u = t;  if jumps[t] &gt; 0: jumps[t] -= 1, t ← t + L
 *   jumps[u] = count - 1 for u ∈ {0, L, 2L, …}, u &lt; N - L
 * </pre>
 *
 * count = 1 is no resampling. The paper's setting is L = 10, count = 10 (diffusers' {@code
 * jump_length} and {@code jump_n_sample}), which runs about count times the steps.
 *
 * @param jumpLength L, steps per jump back, &gt;= 1
 * @param count how many times each resampled stretch runs (RePaint's r), &gt;= 1
 */
public record Resampling(int jumpLength, int count) {
  /** The paper's and diffusers' jump length. */
  public static final int REPAINT_JUMP_LENGTH = 10;

  /** The paper's and diffusers' resample count. */
  public static final int REPAINT_COUNT = 10;

  private static final Resampling NONE = new Resampling(1, 1);

  public Resampling {
    checkArgument(jumpLength >= 1, "RePaint's jump length must be >= 1 step, got %s", jumpLength);
    checkArgument(
        count >= 1, "RePaint's resample count must be >= 1 (1 = no resampling), got %s", count);
  }

  /** No resampling: every step runs once. */
  public static Resampling none() {
    return NONE;
  }

  /** The paper's setting: jump length 10, each stretch run 10 times. */
  public static Resampling repaint() {
    return new Resampling(REPAINT_JUMP_LENGTH, REPAINT_COUNT);
  }

  /** Whether any step runs more than once. */
  public boolean active() {
    return count > 1;
  }

  /**
   * The plan steps to run, in order, for a plan of N steps started at step k: the steps k..N-1 with
   * the jumps back above (counted over the M = N - k steps that run).
   *
   * @throws IllegalArgumentException if resampling is on and no jump fits (L &gt;= M)
   */
  public int[] path(int steps, int start) {
    checkArgument(
        start >= 0 && start < steps, "the start step must be in [0, %s), got %s", steps, start);
    int m = steps - start;
    checkArgument(
        !active() || jumpLength < m,
        "RePaint's jump length (%s) must be below the steps that run (%s), or no jump back fits:"
            + " lower the jump length or raise the steps or the strength",
        jumpLength,
        m);
    int[] jumps = new int[m];
    if (active()) {
      for (int u = 0; u < m - jumpLength; u += jumpLength) {
        jumps[u] = count - 1;
      }
    }
    List<Integer> path = new ArrayList<>();
    int t = m;
    while (t >= 1) {
      t--;
      path.add(steps - 1 - t);
      if (jumps[t] > 0) {
        jumps[t]--;
        t += jumpLength;
      }
    }
    return path.stream().mapToInt(Integer::intValue).toArray();
  }
}
