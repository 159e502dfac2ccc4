package org.tfdiffusion.testing;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Plain-Java, double-precision image editing written from its sources, independent of {@code
 * org.tfdiffusion.sampling}: diffusers' image-to-image start ({@code get_timesteps}, {@code
 * add_noise}), a start mid-way through a multistep solver ({@code set_begin_index}: its {@code
 * lower_order_nums} counts from 0), diffusers' {@code RePaintScheduler.set_timesteps} with {@code
 * RePaintPipeline}'s loop, RePaint's Algorithm 1 for the known region and the jumps back, and
 * Shoemake's slerp. The samplers' steps are {@link ReferenceSamplers}'.
 */
public final class ReferenceEditing {
  private ReferenceEditing() {}

  /**
   * diffusers' {@code StableDiffusionImg2ImgPipeline.get_timesteps}: {@code init_timestep =
   * min(int(num_inference_steps * strength), num_inference_steps)}, {@code t_start =
   * max(num_inference_steps - init_timestep, 0)}: the index of the first timestep that runs.
   */
  public static int startIndex(int steps, double strength) {
    int initTimestep = Math.min((int) (steps * strength), steps);
    return Math.max(steps - initTimestep, 0);
  }

  /** {@code add_noise}: √ᾱ x_0 + √(1 - ᾱ) ε, elementwise. */
  public static double[] qSample(double alphaBar, double[] x0, double[] noise) {
    double[] out = new double[noise.length];
    for (int k = 0; k < out.length; k++) {
      out[k] = Math.sqrt(alphaBar) * x0[k % x0.length] + Math.sqrt(1 - alphaBar) * noise[k];
    }
    return out;
  }

  /**
   * A sampler run along {@code path}, diffusers' way: the scheduler's step {@code path[k]} at
   * position k, with its stored model outputs dropped (x̂_0^{prev} = NaN: first order) at the first
   * position and wherever the path does not go on from the step before (a new {@code
   * set_begin_index}).
   */
  public static ReferenceSamplers.Sampler onPath(ReferenceSamplers.Sampler base, int[] path) {
    int[] all = base.timesteps();
    int[] timesteps = new int[path.length];
    for (int k = 0; k < path.length; k++) {
      timesteps[k] = all[path[k]];
    }
    return new ReferenceSamplers.Sampler() {
      @Override
      public int[] timesteps() {
        return timesteps;
      }

      @Override
      public ReferenceSamplers.Update step(
          int k, double x, double modelOutput, double noise, double x0Prev) {
        boolean history = k > 0 && path[k - 1] == path[k] - 1;
        return base.step(path[k], x, modelOutput, noise, history ? x0Prev : Double.NaN);
      }
    };
  }

  /** The steps start..N-1. */
  public static int[] tail(int steps, int start) {
    int[] path = new int[steps - start];
    for (int k = 0; k < path.length; k++) {
      path[k] = start + k;
    }
    return path;
  }

  /**
   * diffusers' {@code RePaintScheduler.set_timesteps(N, jump_length, jump_n_sample)} in inference
   * steps (before the multiplication by T // N), read as {@code RePaintPipeline.__call__} reads it:
   * an entry below the previous one is a denoising step from there, an entry above it undoes one
   * step. Returned as the plan steps (index i = N - 1 - u) of the denoising entries, the first
   * {@code start} plan steps left out (a start mid-way: the schedule over the remaining steps).
   */
  public static int[] repaintPath(int steps, int start, int jumpLength, int jumpNSample) {
    int n = steps - start;
    // set_timesteps
    List<Integer> timesteps = new ArrayList<>();
    Map<Integer, Integer> jumps = new HashMap<>();
    for (int j = 0; j < n - jumpLength; j += jumpLength) {
      jumps.put(j, jumpNSample - 1);
    }
    int t = n;
    while (t >= 1) {
      t = t - 1;
      timesteps.add(t);
      if (jumps.getOrDefault(t, 0) > 0) {
        jumps.put(t, jumps.get(t) - 1);
        for (int i = 0; i < jumpLength; i++) {
          t = t + 1;
          timesteps.add(t);
        }
      }
    }
    // the pipeline: t < t_last denoises at t, else undoes a step
    List<Integer> path = new ArrayList<>();
    int tLast = timesteps.get(0) + 1;
    for (int u : timesteps) {
      if (u < tLast) {
        path.add(steps - 1 - u);
      }
      tLast = u;
    }
    return path.stream().mapToInt(Integer::intValue).toArray();
  }

  /** The network as the reference sees it: every element of the batch at once, [B, H, W, C]. */
  @FunctionalInterface
  public interface Network {
    double[] apply(double[] x, int t);
  }

  /**
   * The per-row noise draws a reference run uses, each [B, H, W, C] row-major.
   *
   * @param step z_k of step k
   * @param known ε_k of the known region after step k (inpainting)
   * @param jump the noise of a jump back after step k (RePaint)
   */
  public record Noise(float[][] step, float[][] known, float[][] jump) {}

  /**
   * Runs {@code sampler} from {@code start}, RePaint's Algorithm 1 around each step when a mask is
   * given (mask 1 = regenerate, 0 = keep; [H, W, 1], the same for every row and channel):
   *
   * <pre>
   *   x_unknown = step_k(x)
   *   x_known   = √ᾱ' x_0 + √(1 - ᾱ') ε_k,   ᾱ' = ᾱ at the next step's timestep (1 after the last)
   *   x = m x_unknown + (1 - m) x_known
   *   if the next step is j ≠ i + 1:  x = √(ᾱ_{t_j} / ᾱ') x + √(1 - ᾱ_{t_j} / ᾱ') ζ_k
   * </pre>
   *
   * @param base the full plan's reference sampler (its steps and timesteps)
   * @param alphasCumprod ᾱ by timestep
   * @param path plan steps in order
   * @param pixels H·W·C, one image
   * @param image x_0 [H, W, C] (null without a mask)
   * @param mask [H, W] (null for none)
   */
  public static double[] run(
      ReferenceSamplers.Sampler base,
      double[] alphasCumprod,
      int[] path,
      double[] start,
      Network network,
      Noise noise,
      int pixels,
      double[] image,
      double[] mask) {
    ReferenceSamplers.Sampler sampler = onPath(base, path);
    int[] fullTimesteps = base.timesteps();
    int n = start.length;
    double[] x = start.clone();
    double[] x0Prev = new double[n];
    for (int k = 0; k < path.length; k++) {
      int i = path[k];
      double[] out = network.apply(x, fullTimesteps[i]);
      for (int e = 0; e < n; e++) {
        ReferenceSamplers.Update u = sampler.step(k, x[e], out[e], noise.step()[k][e], x0Prev[e]);
        x[e] = u.x();
        x0Prev[e] = u.x0();
      }
      if (mask == null) {
        continue;
      }
      double level = i + 1 < fullTimesteps.length ? alphasCumprod[fullTimesteps[i + 1]] : 1;
      int channels = pixels / mask.length;
      for (int e = 0; e < n; e++) {
        int p = e % pixels;
        double m = mask[p / channels];
        double known = Math.sqrt(level) * image[p] + Math.sqrt(1 - level) * noise.known()[k][e];
        x[e] = m * x[e] + (1 - m) * known;
      }
      if (k + 1 < path.length && path[k + 1] != i + 1) {
        double ratio = alphasCumprod[fullTimesteps[path[k + 1]]] / level;
        for (int e = 0; e < n; e++) {
          x[e] = Math.sqrt(ratio) * x[e] + Math.sqrt(1 - ratio) * noise.jump()[k][e];
        }
      }
    }
    return x;
  }

  /**
   * Shoemake's slerp: θ = arccos(⟨a, b⟩ / (‖a‖ ‖b‖)), {@code sin((1-α)θ)/sin θ · a + sin(αθ)/sin θ
   * · b}.
   */
  public static double[] slerp(double[] a, double[] b, double alpha) {
    double dot = 0;
    double aa = 0;
    double bb = 0;
    for (int k = 0; k < a.length; k++) {
      dot += a[k] * b[k];
      aa += a[k] * a[k];
      bb += b[k] * b[k];
    }
    double theta = Math.acos(dot / Math.sqrt(aa * bb));
    double wa = Math.sin((1 - alpha) * theta) / Math.sin(theta);
    double wb = Math.sin(alpha * theta) / Math.sin(theta);
    double[] out = new double[a.length];
    for (int k = 0; k < a.length; k++) {
      out[k] = wa * a[k] + wb * b[k];
    }
    return out;
  }
}
