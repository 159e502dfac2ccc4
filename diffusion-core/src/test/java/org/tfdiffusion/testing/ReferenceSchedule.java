package org.tfdiffusion.testing;

import org.tfdiffusion.schedule.BetaSchedule;
import org.tfdiffusion.schedule.Coefficient;

/**
 * A plain-Java, double-precision noise schedule written directly from the formulas of the tutorial
 * (and of the papers the schedules come from), independent of {@code NoiseSchedule}: parity tests
 * compare the production code and its graphs against these arrays.
 *
 * <p>Index t runs over 0..T-1. No validation: callers pass valid input.
 */
public final class ReferenceSchedule {
  /** Nichol &amp; Dhariwal 2021: the offset s of the cosine schedule. */
  public static final double COSINE_S = 0.008;

  /** Nichol &amp; Dhariwal 2021: the clip on the cosine schedule's β. */
  public static final double COSINE_MAX_BETA = 0.999;

  /** The tutorial's clamp before the log: {@code torch.clamp(posterior_variance, min=1e-20)}. */
  public static final double LOG_CLAMP = 1e-20;

  /** The range of the sigmoid schedule's logits, {@code linspace(-6, 6, T)}. */
  public static final double SIGMOID_RANGE = 6.0;

  public final double[] betas;
  public final double[] alphas;
  public final double[] alphasCumprod;
  public final double[] alphasCumprodPrev;
  public final double[] sqrtAlphasCumprod;
  public final double[] sqrtOneMinusAlphasCumprod;
  public final double[] sqrtRecipAlphas;
  public final double[] sqrtRecipAlphasCumprod;
  public final double[] sqrtRecipm1AlphasCumprod;
  public final double[] posteriorVariance;
  public final double[] posteriorLogVarianceClipped;
  public final double[] posteriorMeanCoef1;
  public final double[] posteriorMeanCoef2;

  /** Derives every array from β, in the tutorial's order of formulas. */
  public ReferenceSchedule(double[] betas) {
    int n = betas.length;
    this.betas = betas.clone();
    alphas = new double[n];
    alphasCumprod = new double[n];
    alphasCumprodPrev = new double[n];
    sqrtAlphasCumprod = new double[n];
    sqrtOneMinusAlphasCumprod = new double[n];
    sqrtRecipAlphas = new double[n];
    sqrtRecipAlphasCumprod = new double[n];
    sqrtRecipm1AlphasCumprod = new double[n];
    posteriorVariance = new double[n];
    posteriorLogVarianceClipped = new double[n];
    posteriorMeanCoef1 = new double[n];
    posteriorMeanCoef2 = new double[n];
    // alphas = 1 - betas; alphas_cumprod = torch.cumprod(alphas)
    for (int t = 0; t < n; t++) {
      alphas[t] = 1.0 - betas[t];
      alphasCumprod[t] = t == 0 ? alphas[t] : alphasCumprod[t - 1] * alphas[t];
    }
    // alphas_cumprod_prev = F.pad(alphas_cumprod[:-1], (1, 0), value=1.0)
    alphasCumprodPrev[0] = 1.0;
    System.arraycopy(alphasCumprod, 0, alphasCumprodPrev, 1, n - 1);
    for (int t = 0; t < n; t++) {
      double beta = betas[t];
      double alpha = alphas[t];
      double ac = alphasCumprod[t];
      double acPrev = alphasCumprodPrev[t];
      sqrtAlphasCumprod[t] = Math.sqrt(ac);
      sqrtOneMinusAlphasCumprod[t] = Math.sqrt(1.0 - ac);
      sqrtRecipAlphas[t] = Math.sqrt(1.0 / alpha);
      sqrtRecipAlphasCumprod[t] = Math.sqrt(1.0 / ac);
      sqrtRecipm1AlphasCumprod[t] = Math.sqrt(1.0 / ac - 1.0);
      posteriorVariance[t] = beta * (1.0 - acPrev) / (1.0 - ac);
      posteriorLogVarianceClipped[t] = Math.log(Math.max(posteriorVariance[t], LOG_CLAMP));
      posteriorMeanCoef1[t] = beta * Math.sqrt(acPrev) / (1.0 - ac);
      posteriorMeanCoef2[t] = (1.0 - acPrev) * Math.sqrt(alpha) / (1.0 - ac);
    }
  }

  /** The reference schedule {@code kind} with T steps between β_start and β_end. */
  public static ReferenceSchedule of(
      BetaSchedule kind, int timesteps, double betaStart, double betaEnd) {
    return new ReferenceSchedule(betas(kind, timesteps, betaStart, betaEnd));
  }

  /** β of the schedule {@code kind}, from this class's formulas. */
  public static double[] betas(BetaSchedule kind, int timesteps, double betaStart, double betaEnd) {
    return switch (kind) {
      case LINEAR -> linearBetas(timesteps, betaStart, betaEnd);
      case SCALED_LINEAR -> scaledLinearBetas(timesteps, betaStart, betaEnd);
      case COSINE -> cosineBetas(timesteps);
      case SIGMOID -> sigmoidBetas(timesteps, betaStart, betaEnd);
    };
  }

  /** The reference array that a {@link Coefficient} names. */
  public double[] get(Coefficient coefficient) {
    return switch (coefficient) {
      case BETAS -> betas;
      case ALPHAS -> alphas;
      case ALPHAS_CUMPROD -> alphasCumprod;
      case ALPHAS_CUMPROD_PREV -> alphasCumprodPrev;
      case SQRT_ALPHAS_CUMPROD -> sqrtAlphasCumprod;
      case SQRT_ONE_MINUS_ALPHAS_CUMPROD -> sqrtOneMinusAlphasCumprod;
      case SQRT_RECIP_ALPHAS -> sqrtRecipAlphas;
      case SQRT_RECIP_ALPHAS_CUMPROD -> sqrtRecipAlphasCumprod;
      case SQRT_RECIPM1_ALPHAS_CUMPROD -> sqrtRecipm1AlphasCumprod;
      case POSTERIOR_VARIANCE -> posteriorVariance;
      case POSTERIOR_LOG_VARIANCE_CLIPPED -> posteriorLogVarianceClipped;
      case POSTERIOR_MEAN_COEF1 -> posteriorMeanCoef1;
      case POSTERIOR_MEAN_COEF2 -> posteriorMeanCoef2;
    };
  }

  /** T, the number of steps. */
  public int timesteps() {
    return betas.length;
  }

  /** {@code torch.linspace(start, end, n)}: n evenly spaced values, both ends included. */
  public static double[] linspace(double start, double end, int n) {
    double[] out = new double[n];
    for (int i = 0; i < n; i++) {
      out[i] = n == 1 ? start : start + (end - start) * i / (n - 1);
    }
    return out;
  }

  /** Ho et al. 2020: {@code torch.linspace(beta_start, beta_end, T)}. */
  public static double[] linearBetas(int timesteps, double betaStart, double betaEnd) {
    return linspace(betaStart, betaEnd, timesteps);
  }

  /** Stable Diffusion: {@code torch.linspace(sqrt(beta_start), sqrt(beta_end), T) ** 2}. */
  public static double[] scaledLinearBetas(int timesteps, double betaStart, double betaEnd) {
    double[] roots = linspace(Math.sqrt(betaStart), Math.sqrt(betaEnd), timesteps);
    double[] out = new double[timesteps];
    for (int t = 0; t < timesteps; t++) {
      out[t] = Math.pow(roots[t], 2);
    }
    return out;
  }

  /**
   * Nichol &amp; Dhariwal 2021, eq. 17: {@code ᾱ(u) = cos²((u + s)/(1 + s) · π/2)} and {@code β_t =
   * min(1 - ᾱ((t+1)/T) / ᾱ(t/T), 0.999)}.
   */
  public static double[] cosineBetas(int timesteps) {
    double[] out = new double[timesteps];
    for (int t = 0; t < timesteps; t++) {
      double next = cosineAlphaBar((double) (t + 1) / timesteps);
      double here = cosineAlphaBar((double) t / timesteps);
      out[t] = Math.min(1.0 - next / here, COSINE_MAX_BETA);
    }
    return out;
  }

  /** {@code cos²((u + s)/(1 + s) · π/2)}, the unnormalised ᾱ of the cosine schedule. */
  public static double cosineAlphaBar(double u) {
    return Math.pow(Math.cos((u + COSINE_S) / (1.0 + COSINE_S) * Math.PI / 2.0), 2);
  }

  /** GeoDiff / diffusers: {@code sigmoid(linspace(-6, 6, T)) * (beta_end - beta_start) + start}. */
  public static double[] sigmoidBetas(int timesteps, double betaStart, double betaEnd) {
    double[] xs = linspace(-SIGMOID_RANGE, SIGMOID_RANGE, timesteps);
    double[] out = new double[timesteps];
    for (int t = 0; t < timesteps; t++) {
      out[t] = 1.0 / (1.0 + Math.exp(-xs[t])) * (betaEnd - betaStart) + betaStart;
    }
    return out;
  }
}
