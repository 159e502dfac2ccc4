package org.tfdiffusion.testing;

import org.tfdiffusion.diffusion.Prediction;

/**
 * Plain-Java, double-precision samplers written directly from their sources, independent of {@code
 * org.tfdiffusion.sampling}: the tutorial's {@code p_sample}, improved-diffusion's respaced DDPM
 * ({@code space_timesteps}, {@code SpacedDiffusion}, {@code p_mean_variance}), diffusers' {@code
 * DDIMScheduler} and {@code DPMSolverMultistepScheduler} ({@code algorithm_type="dpmsolver++"},
 * {@code solver_type="midpoint"}). Every ᾱ comes from a {@link ReferenceSchedule}.
 *
 * <p>The updates are elementwise, so a step works on one element. Besides its result a step returns
 * the absolute-value evaluation of the same arithmetic (each input, coefficient and difference
 * replaced by its absolute value, so that nothing cancels): a float32 evaluation with at most k
 * roundings along any path is within {@code γ_k · |·|-evaluation} of the exact value, {@code γ_k =
 * k u / (1 - k u)}, u = 2^-24 (Higham, "Accuracy and Stability of Numerical Algorithms", 2nd ed.,
 * §3.1). {@link #run} carries that bound through a whole loop.
 *
 * <p>No validation: callers pass valid settings.
 */
public final class ReferenceSamplers {
  /** float32's unit roundoff, 2^-24. */
  public static final double FLOAT32_UNIT_ROUNDOFF = 0x1p-24;

  private ReferenceSamplers() {}

  /** A sampler as diffusers drives it: a fixed list of model timesteps and one update per step. */
  public interface Sampler {
    /** t_i, the timestep the model sees at step i. */
    int[] timesteps();

    /**
     * Step i for one element.
     *
     * @param modelOutput the model's output at (x, t_i)
     * @param noise z of this step (ignored by deterministic steps)
     * @param x0Prev x̂_0 of the previous step (ignored by single-step samplers); NaN for none (a
     *     start mid-way: a multistep solver takes the step at first order)
     */
    Update step(int i, double x, double modelOutput, double noise, double x0Prev);
  }

  /**
   * One step's results.
   *
   * @param x the new sample
   * @param x0 this step's x̂_0 (after clipping, where clipping is on)
   * @param magnitude the absolute-value evaluation of {@code x}
   * @param x0Magnitude the absolute-value evaluation of {@code x0}
   */
  public record Update(double x, double x0, double magnitude, double x0Magnitude) {}

  /** x̂_0 and ε̂ of a model output, with their absolute-value evaluations. */
  record Converted(double x0, double eps, double x0Magnitude, double epsMagnitude) {}

  /**
   * diffusers' conversions at ᾱ_t (DDIMScheduler.step, step 3):
   *
   * <pre>
   *   epsilon:  x̂_0 = (x - √(1-ᾱ) out) / √ᾱ,       ε̂ = out
   *   sample:   x̂_0 = out,                         ε̂ = (x - √ᾱ out) / √(1-ᾱ)
   *   v:        x̂_0 = √ᾱ x - √(1-ᾱ) out,           ε̂ = √ᾱ out + √(1-ᾱ) x
   * </pre>
   */
  static Converted convert(Prediction prediction, double alphaBar, double x, double out) {
    double alpha = Math.sqrt(alphaBar);
    double beta = Math.sqrt(1 - alphaBar);
    double ax = Math.abs(x);
    double aOut = Math.abs(out);
    return switch (prediction) {
      case EPSILON ->
          new Converted((x - beta * out) / alpha, out, (ax + beta * aOut) / alpha, aOut);
      case SAMPLE -> new Converted(out, (x - alpha * out) / beta, aOut, (ax + alpha * aOut) / beta);
      case V_PREDICTION ->
          new Converted(
              alpha * x - beta * out,
              alpha * out + beta * x,
              alpha * ax + beta * aOut,
              alpha * aOut + beta * ax);
    };
  }

  private static double clip(double value, double range) {
    return range > 0 ? Math.max(-range, Math.min(range, value)) : value;
  }

  // ---------------------------------------------------------------------------------------------
  // Timesteps: numpy's linspace and arange, value by value

  /** {@code np.linspace(0, stop, num)}: {@code arange(num) * (stop / (num - 1))}, last = stop. */
  static double[] npLinspace(double stop, int num) {
    double[] out = new double[num];
    if (num == 1) {
      return out;
    }
    double step = stop / (num - 1);
    for (int i = 0; i < num; i++) {
      out[i] = i * step;
    }
    out[num - 1] = stop;
    return out;
  }

  /**
   * {@code np.arange(start, 0, step)}, its first {@code count} values: numpy stores start and start
   * + step and fills the rest as {@code start + i * ((start + step) - start)}.
   */
  static double[] npArange(double start, double step, int count) {
    double[] out = new double[count];
    out[0] = start;
    if (count > 1) {
      out[1] = start + step;
      double delta = out[1] - out[0];
      for (int i = 2; i < count; i++) {
        out[i] = start + i * delta;
      }
    }
    return out;
  }

  /**
   * diffusers' {@code DDIMScheduler.set_timesteps}.
   *
   * @param spacing "linspace", "leading" or "trailing"
   */
  public static int[] ddimTimesteps(String spacing, int trainSteps, int steps, int stepsOffset) {
    int[] out = new int[steps];
    switch (spacing) {
      case "linspace" -> {
        // np.linspace(0, T - 1, N).round()[::-1]
        double[] v = npLinspace(trainSteps - 1, steps);
        for (int i = 0; i < steps; i++) {
          out[i] = (int) Math.rint(v[steps - 1 - i]);
        }
      }
      case "leading" -> {
        // (np.arange(0, N) * (T // N)).round()[::-1] + steps_offset
        int ratio = trainSteps / steps;
        for (int i = 0; i < steps; i++) {
          out[i] = (steps - 1 - i) * ratio + stepsOffset;
        }
      }
      case "trailing" -> {
        // np.round(np.arange(T, 0, -T / N)) - 1
        double[] v = npArange(trainSteps, -(double) trainSteps / steps, steps);
        for (int i = 0; i < steps; i++) {
          out[i] = (int) Math.rint(v[i]) - 1;
        }
      }
      default -> throw new IllegalArgumentException(spacing);
    }
    return out;
  }

  /**
   * diffusers' {@code DPMSolverMultistepScheduler.set_timesteps} (no λ clipping, no Karras σ).
   *
   * @param spacing "linspace", "leading" or "trailing"
   */
  public static int[] dpmSolverTimesteps(
      String spacing, int trainSteps, int steps, int stepsOffset) {
    int[] out = new int[steps];
    switch (spacing) {
      case "linspace" -> {
        // np.linspace(0, T - 1, N + 1).round()[::-1][:-1]
        double[] v = npLinspace(trainSteps - 1, steps + 1);
        for (int i = 0; i < steps; i++) {
          out[i] = (int) Math.rint(v[steps - i]);
        }
      }
      case "leading" -> {
        // (np.arange(0, N + 1) * (T // (N + 1))).round()[::-1][:-1] + steps_offset
        int ratio = trainSteps / (steps + 1);
        for (int i = 0; i < steps; i++) {
          out[i] = (steps - i) * ratio + stepsOffset;
        }
      }
      case "trailing" -> {
        // np.arange(T, 0, -T / N).round() - 1
        double[] v = npArange(trainSteps, -(double) trainSteps / steps, steps);
        for (int i = 0; i < steps; i++) {
          out[i] = (int) Math.rint(v[i]) - 1;
        }
      }
      default -> throw new IllegalArgumentException(spacing);
    }
    return out;
  }

  /** improved-diffusion's {@code space_timesteps(T, [N])}, ascending. */
  public static int[] spaceTimesteps(int trainSteps, int steps) {
    double fracStride = steps <= 1 ? 1 : (trainSteps - 1) / (double) (steps - 1);
    double curIdx = 0.0;
    int[] taken = new int[steps];
    for (int i = 0; i < steps; i++) {
      taken[i] = (int) Math.rint(curIdx); // Python's round: half to even
      curIdx += fracStride;
    }
    return taken;
  }

  // ---------------------------------------------------------------------------------------------
  // DDPM

  /**
   * The tutorial's {@code p_sample} for one element at timestep t:
   *
   * <pre>
   *   mean = sqrt_recip_alphas_t * (x - betas_t * eps / sqrt_one_minus_alphas_cumprod_t)
   *   return mean                                         if t == 0
   *   return mean + sqrt(posterior_variance_t) * noise    otherwise
   * </pre>
   */
  public static double pSample(ReferenceSchedule s, int t, double x, double eps, double noise) {
    double mean = s.sqrtRecipAlphas[t] * (x - s.betas[t] * eps / s.sqrtOneMinusAlphasCumprod[t]);
    if (t == 0) {
      return mean;
    }
    return mean + Math.sqrt(s.posteriorVariance[t]) * noise;
  }

  /**
   * The tutorial's {@code p_sample_loop}: all T timesteps, t = T-1..0, with {@link #pSample}. The
   * tutorial's network predicts ε; other outputs are converted to ε̂ first.
   */
  public static Sampler tutorialDdpm(ReferenceSchedule s, Prediction prediction) {
    int steps = s.timesteps();
    int[] timesteps = new int[steps];
    for (int i = 0; i < steps; i++) {
      timesteps[i] = steps - 1 - i;
    }
    return new Sampler() {
      @Override
      public int[] timesteps() {
        return timesteps;
      }

      @Override
      public Update step(int i, double x, double modelOutput, double noise, double x0Prev) {
        int t = timesteps[i];
        Converted c = convert(prediction, s.alphasCumprod[t], x, modelOutput);
        double next = pSample(s, t, x, c.eps(), noise);
        double sigma = t == 0 ? 0 : Math.sqrt(s.posteriorVariance[t]);
        double magnitude =
            s.sqrtRecipAlphas[t]
                    * (Math.abs(x) + s.betas[t] * c.epsMagnitude() / s.sqrtOneMinusAlphasCumprod[t])
                + sigma * Math.abs(noise);
        return new Update(next, c.x0(), magnitude, c.x0Magnitude());
      }
    };
  }

  /**
   * improved-diffusion's respaced DDPM ({@code SpacedDiffusion} over {@code space_timesteps(T,
   * [N])}, one {@code p_sample} per retained timestep):
   *
   * <pre>
   *   new_betas_j = 1 - ᾱ_{S_j} / ᾱ_{S_{j-1}}  (ᾱ_{S_{-1}} = 1), and every coefficient from them
   *   pred_xstart = sqrt_recip_alphas_cumprod_j x - sqrt_recipm1_alphas_cumprod_j ε̂, clipped if asked
   *   mean = posterior_mean_coef1_j pred_xstart + posterior_mean_coef2_j x
   *   var  = posterior_variance_j ("fixed small") or new_betas_j ("fixed large"), no noise at j = 0
   * </pre>
   *
   * The model sees the original timestep S_j.
   *
   * @param clip the range to clip pred_xstart to, 0 for none
   */
  public static Sampler respacedDdpm(
      ReferenceSchedule base, int steps, boolean fixedLarge, double clip, Prediction prediction) {
    int[] use = spaceTimesteps(base.timesteps(), steps);
    double[] newBetas = new double[steps];
    double last = 1.0;
    for (int j = 0; j < steps; j++) {
      double alphaBar = base.alphasCumprod[use[j]];
      newBetas[j] = 1 - alphaBar / last;
      last = alphaBar;
    }
    ReferenceSchedule spaced = new ReferenceSchedule(newBetas);
    int[] timesteps = new int[steps];
    for (int i = 0; i < steps; i++) {
      timesteps[i] = use[steps - 1 - i];
    }
    return new Sampler() {
      @Override
      public int[] timesteps() {
        return timesteps;
      }

      @Override
      public Update step(int i, double x, double modelOutput, double noise, double x0Prev) {
        int j = steps - 1 - i;
        double x0;
        double x0Magnitude;
        if (prediction == Prediction.EPSILON) {
          // _predict_xstart_from_eps
          x0 =
              spaced.sqrtRecipAlphasCumprod[j] * x
                  - spaced.sqrtRecipm1AlphasCumprod[j] * modelOutput;
          x0Magnitude =
              spaced.sqrtRecipAlphasCumprod[j] * Math.abs(x)
                  + spaced.sqrtRecipm1AlphasCumprod[j] * Math.abs(modelOutput);
        } else {
          Converted c = convert(prediction, spaced.alphasCumprod[j], x, modelOutput);
          x0 = c.x0();
          x0Magnitude = c.x0Magnitude();
        }
        x0 = clip(x0, clip);
        double mean = spaced.posteriorMeanCoef1[j] * x0 + spaced.posteriorMeanCoef2[j] * x;
        double variance = fixedLarge ? spaced.betas[j] : spaced.posteriorVariance[j];
        double sigma = j == 0 ? 0 : Math.sqrt(variance);
        double magnitude =
            spaced.posteriorMeanCoef1[j] * x0Magnitude
                + spaced.posteriorMeanCoef2[j] * Math.abs(x)
                + sigma * Math.abs(noise);
        return new Update(mean + sigma * noise, x0, magnitude, x0Magnitude);
      }
    };
  }

  // ---------------------------------------------------------------------------------------------
  // DDIM

  /**
   * diffusers' {@code DDIMScheduler.step} (use_clipped_model_output False, no thresholding):
   *
   * <pre>
   *   1. prev_timestep = t - T // N
   *   2. alpha_prod_t = ᾱ_t; alpha_prod_t_prev = ᾱ_prev if prev_timestep >= 0 else final_alpha_cumprod
   *      (1.0 if set_alpha_to_one, else ᾱ_0)
   *   3. pred_original_sample, pred_epsilon from the model output
   *   4. clip pred_original_sample to [-r, r] if clip_sample (pred_epsilon is not recomputed)
   *   5. variance = (1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev); std_dev_t = eta * sqrt(variance)
   *   6. pred_sample_direction = sqrt(1 - a_prev - std_dev_t^2) * pred_epsilon
   *   7. prev_sample = sqrt(a_prev) * pred_original_sample + pred_sample_direction (+ std_dev_t z if eta > 0)
   * </pre>
   *
   * @param timesteps from {@link #ddimTimesteps}
   * @param clip clip_sample_range, 0 for clip_sample False
   */
  public static Sampler ddim(
      ReferenceSchedule s,
      int[] timesteps,
      double eta,
      boolean setAlphaToOne,
      double clip,
      Prediction prediction) {
    int trainSteps = s.timesteps();
    int steps = timesteps.length;
    double finalAlphaCumprod = setAlphaToOne ? 1.0 : s.alphasCumprod[0];
    return new Sampler() {
      @Override
      public int[] timesteps() {
        return timesteps;
      }

      @Override
      public Update step(int i, double x, double modelOutput, double noise, double x0Prev) {
        int t = timesteps[i];
        // 1.
        int prevTimestep = t - trainSteps / steps;
        // 2.
        double alphaProdT = s.alphasCumprod[t];
        double alphaProdTPrev =
            prevTimestep >= 0 ? s.alphasCumprod[prevTimestep] : finalAlphaCumprod;
        // 3.-4.
        Converted c = convert(prediction, alphaProdT, x, modelOutput);
        double predOriginalSample = clip(c.x0(), clip);
        // 5.
        double variance =
            (1 - alphaProdTPrev) / (1 - alphaProdT) * (1 - alphaProdT / alphaProdTPrev);
        double stdDevT = eta * Math.sqrt(variance);
        // 6.
        double directionCoef = Math.sqrt(1 - alphaProdTPrev - stdDevT * stdDevT);
        double predSampleDirection = directionCoef * c.eps();
        // 7.
        double prevSample = Math.sqrt(alphaProdTPrev) * predOriginalSample + predSampleDirection;
        if (eta > 0) {
          prevSample += stdDevT * noise;
        }
        double magnitude =
            Math.sqrt(alphaProdTPrev) * c.x0Magnitude()
                + directionCoef * c.epsMagnitude()
                + stdDevT * Math.abs(noise);
        return new Update(prevSample, predOriginalSample, magnitude, c.x0Magnitude());
      }
    };
  }

  // ---------------------------------------------------------------------------------------------
  // DPM-Solver++ (2M)

  /**
   * diffusers' {@code DPMSolverMultistepScheduler} with algorithm_type "dpmsolver++", solver_type
   * "midpoint":
   *
   * <pre>
   *   sigmas = sqrt((1 - ᾱ) / ᾱ) at each timestep, then the final sigma (0 for "zero", σ(ᾱ_0) for
   *   "sigma_min"); _sigma_to_alpha_sigma_t: alpha_t = 1 / sqrt(σ² + 1), sigma_t = σ alpha_t
   *   convert_model_output: x0 = (x - sigma_t ε) / alpha_t, or alpha_t x - sigma_t v
   *   lambda = log(alpha_t) - log(sigma_t);  h = lambda_t - lambda_s0
   *   first order:  x_t = (sigma_t / sigma_s0) x - alpha_t (exp(-h) - 1) m0
   *   second order: h_0 = lambda_s0 - lambda_s1, r0 = h_0 / h, D0 = m0, D1 = (m0 - m1) / r0
   *                 x_t = (sigma_t / sigma_s0) x - alpha_t (exp(-h) - 1) D0 - 0.5 alpha_t (exp(-h) - 1) D1
   *   first order at step 0, when solver_order is 1, and at the last step when lower_order_final
   *   (lower_order_final and N &lt; 15, or final_sigmas_type "zero")
   * </pre>
   *
   * With σ_final = 0: sigma_t = 0, lambda_t = +∞, exp(-h) = 0, so the last step returns m0.
   *
   * @param timesteps from {@link #dpmSolverTimesteps}
   */
  public static Sampler dpmSolverPlusPlus(
      ReferenceSchedule s,
      int[] timesteps,
      int solverOrder,
      boolean lowerOrderFinal,
      boolean finalSigmaZero,
      Prediction prediction) {
    int steps = timesteps.length;
    double[] sigmas = new double[steps + 1];
    for (int i = 0; i < steps; i++) {
      double alphaBar = s.alphasCumprod[timesteps[i]];
      sigmas[i] = Math.sqrt((1 - alphaBar) / alphaBar);
    }
    sigmas[steps] = finalSigmaZero ? 0 : Math.sqrt((1 - s.alphasCumprod[0]) / s.alphasCumprod[0]);
    return new Sampler() {
      @Override
      public int[] timesteps() {
        return timesteps;
      }

      @Override
      public Update step(int i, double x, double modelOutput, double noise, double x0Prev) {
        // convert_model_output at sigmas[i]
        double alphaS0 = alphaT(sigmas[i]);
        double sigmaS0 = sigmas[i] * alphaS0;
        double m0;
        double m0Magnitude;
        switch (prediction) {
          case EPSILON -> {
            m0 = (x - sigmaS0 * modelOutput) / alphaS0;
            m0Magnitude = (Math.abs(x) + sigmaS0 * Math.abs(modelOutput)) / alphaS0;
          }
          case SAMPLE -> {
            m0 = modelOutput;
            m0Magnitude = Math.abs(modelOutput);
          }
          case V_PREDICTION -> {
            m0 = alphaS0 * x - sigmaS0 * modelOutput;
            m0Magnitude = alphaS0 * Math.abs(x) + sigmaS0 * Math.abs(modelOutput);
          }
          default -> throw new IllegalArgumentException(prediction.toString());
        }
        boolean lowerOrderFinalHere =
            i == steps - 1 && ((lowerOrderFinal && steps < 15) || finalSigmaZero);
        double alphaT = alphaT(sigmas[i + 1]);
        double sigmaT = sigmas[i + 1] * alphaT;
        double lambdaT = Math.log(alphaT) - Math.log(sigmaT);
        double lambdaS0 = Math.log(alphaS0) - Math.log(sigmaS0);
        double h = lambdaT - lambdaS0;
        double x0Coef = -alphaT * (Math.exp(-h) - 1.0);
        double next;
        double magnitude;
        // diffusers: first order while lower_order_nums < 1 (the first step after set_timesteps
        // or set_begin_index: no previous model output, here i = 0 or x0Prev = NaN)
        if (solverOrder == 1 || i == 0 || Double.isNaN(x0Prev) || lowerOrderFinalHere) {
          next = (sigmaT / sigmaS0) * x + x0Coef * m0;
          magnitude = (sigmaT / sigmaS0) * Math.abs(x) + Math.abs(x0Coef) * m0Magnitude;
        } else {
          double alphaS1 = alphaT(sigmas[i - 1]);
          double sigmaS1 = sigmas[i - 1] * alphaS1;
          double lambdaS1 = Math.log(alphaS1) - Math.log(sigmaS1);
          double h0 = lambdaS0 - lambdaS1;
          double r0 = h0 / h;
          double d1 = (m0 - x0Prev) / r0;
          next = (sigmaT / sigmaS0) * x + x0Coef * m0 + 0.5 * x0Coef * d1;
          magnitude =
              (sigmaT / sigmaS0) * Math.abs(x)
                  + Math.abs(x0Coef) * m0Magnitude
                  + Math.abs(0.5 * x0Coef / r0) * (m0Magnitude + Math.abs(x0Prev));
        }
        return new Update(next, m0, magnitude, m0Magnitude);
      }
    };
  }

  private static double alphaT(double sigma) {
    return 1 / Math.sqrt(sigma * sigma + 1);
  }

  // ---------------------------------------------------------------------------------------------
  // The loop

  /**
   * A reference loop's result.
   *
   * @param x the final samples
   * @param roundingBound per element, a first-order bound on how far a float32 evaluation of the
   *     same loop from the same x_T and noise can be from {@code x}
   * @param startSensitivity per element, |∂x_N/∂x_start|: what an error in the start x becomes in
   *     the final sample
   */
  public record Run(double[] x, double[] roundingBound, double[] startSensitivity) {}

  /** diffusers' dummy model for scheduler tests: {@code sample * t / (t + 1)}. */
  public static double dummyModel(double x, int t) {
    return x * t / (t + 1.0);
  }

  /**
   * Runs a sampler from x_T with {@link #dummyModel}, z_i = {@code noise[i]} and x̂_0^{prev} = 0 at
   * the first step, and bounds the float32 rounding of the same loop to first order:
   *
   * <pre>
   *   |x̂_N - x_N| ≤ Σ_i |∂x_N/∂x_{i+1}| δ_i + |∂x_N/∂x̂_0^{(i)}| δ0_i
   * </pre>
   *
   * where δ_i and δ0_i = {@code roundings · u · |·|-evaluation} bound the rounding that step i adds
   * to its outputs x_{i+1} and x̂_0^{(i)} (taken at their worst, with any sign), and the
   * sensitivities of the final sample to them are exact: they are back-propagated through the step
   * Jacobians ∂x_{i+1}/∂x_i, ∂x_{i+1}/∂x̂_0^{prev} and ∂x̂_0^{(i)}/∂x_i with their signs, so that
   * contraction and the interplay of the two-step solver are accounted for, not overestimated. The
   * Jacobians are central differences of the step with the model re-evaluated (exact up to double
   * rounding, as with the dummy model a step is affine in x and x̂_0^{prev} away from clipping
   * kinks). First order suffices as the errors are ~1e-6 relative.
   *
   * @param roundings k, the most float32 roundings along one path through one step of the
   *     implementation under test
   */
  public static Run run(Sampler sampler, float[] initial, float[][] noise, int roundings) {
    int n = initial.length;
    int[] timesteps = sampler.timesteps();
    int steps = timesteps.length;
    double perRounding = roundings * FLOAT32_UNIT_ROUNDOFF;
    double[] x = new double[n];
    double[] x0Prev = new double[n];
    for (int k = 0; k < n; k++) {
      x[k] = initial[k];
    }
    // per step and element: ∂x'/∂x, ∂x'/∂x0prev, ∂x0/∂x and the local rounding bounds
    double[][] dxdx = new double[steps][n];
    double[][] dxdp = new double[steps][n];
    double[][] dx0dx = new double[steps][n];
    double[][] local = new double[steps][n];
    double[][] localX0 = new double[steps][n];
    for (int i = 0; i < steps; i++) {
      int t = timesteps[i];
      for (int k = 0; k < n; k++) {
        double z = noise[i][k];
        double p = x0Prev[k];
        Update u = sampler.step(i, x[k], dummyModel(x[k], t), z, p);
        double h = 1e-6 * (1 + Math.abs(x[k]));
        Update up = sampler.step(i, x[k] + h, dummyModel(x[k] + h, t), z, p);
        Update down = sampler.step(i, x[k] - h, dummyModel(x[k] - h, t), z, p);
        double hp = 1e-6 * (1 + Math.abs(p));
        Update pUp = sampler.step(i, x[k], dummyModel(x[k], t), z, p + hp);
        Update pDown = sampler.step(i, x[k], dummyModel(x[k], t), z, p - hp);
        dxdx[i][k] = (up.x() - down.x()) / (2 * h);
        dx0dx[i][k] = (up.x0() - down.x0()) / (2 * h);
        dxdp[i][k] = (pUp.x() - pDown.x()) / (2 * hp);
        local[i][k] = perRounding * u.magnitude();
        localX0[i][k] = perRounding * u.x0Magnitude();
        x[k] = u.x();
        x0Prev[k] = u.x0();
      }
    }
    double[] bound = new double[n];
    double[] startSensitivity = new double[n];
    for (int k = 0; k < n; k++) {
      // (sx, sp) = (∂x_N/∂x_{i+1}, ∂x_N/∂x̂_0^{(i)}), walking i down from N - 1
      double sx = 1;
      double sp = 0;
      double b = 0;
      for (int i = steps - 1; i >= 0; i--) {
        b += Math.abs(sx) * local[i][k] + Math.abs(sp) * localX0[i][k];
        double nextSx = sx * dxdx[i][k] + sp * dx0dx[i][k];
        sp = sx * dxdp[i][k];
        sx = nextSx;
      }
      bound[k] = b;
      startSensitivity[k] = Math.abs(sx);
    }
    return new Run(x, bound, startSensitivity);
  }
}
