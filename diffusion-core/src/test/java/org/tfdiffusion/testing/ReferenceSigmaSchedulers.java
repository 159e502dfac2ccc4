package org.tfdiffusion.testing;

import java.util.function.IntFunction;
import org.tfdiffusion.diffusion.Prediction;

/**
 * diffusers' σ-space schedulers as their scheduler tests drive them, in plain Java double precision
 * on whole arrays, independent of {@code org.tfdiffusion.sampling}: {@code EulerDiscreteScheduler},
 * {@code EulerAncestralDiscreteScheduler}, {@code HeunDiscreteScheduler} and {@code
 * LMSDiscreteScheduler} ({@code set_timesteps}, {@code init_noise_sigma}, {@code
 * scale_model_input}, {@code step}, written from their source), and {@code
 * DPMSolverMultistepScheduler} with Karras or Lu σ and the SDE variant.
 *
 * <p>Two ways of running the σ-space ones:
 *
 * <ul>
 *   <li>as diffusers' own tests do ({@link Drive#DIFFUSERS_TEST}): fractional timesteps, x^σ =
 *       dummy sample × init_noise_sigma, and their loop's {@code sample =
 *       scheduler.scale_model_input(sample, t)}, which hands {@code step} the scaled sample;
 *   <li>as a pipeline does with an integer-timestep model ({@link Drive#PIPELINE}): each t rounded
 *       to the nearest integer, x^σ = x_start · √(σ_0² + 1), {@code step} given the unscaled
 *       sample.
 * </ul>
 *
 * The dummy model is {@code sample * t / (t + 1)} at the (possibly fractional) t.
 */
public final class ReferenceSigmaSchedulers {
  private ReferenceSigmaSchedulers() {}

  /** How the loop around the scheduler is written. */
  public enum Drive {
    DIFFUSERS_TEST,
    PIPELINE
  }

  /** Which scheduler. */
  public enum Kind {
    EULER,
    EULER_ANCESTRAL,
    HEUN
  }

  /**
   * set_timesteps of the three σ-space schedulers: timesteps t_i (fractional for linspace spacing
   * and for Karras σ) and σ_0..σ_{N-1}, then 0.
   */
  public record Levels(double[] timesteps, double[] sigmas) {}

  /**
   * @param alphasCumprod ᾱ of the training schedule
   * @param spacing "linspace", "leading" or "trailing"
   * @param sigmas "none", "karras" or "exponential"
   * @param integerTimesteps round the spacing's timesteps before taking their σ (a pipeline with an
   *     integer-timestep model)
   */
  public static Levels levels(
      double[] alphasCumprod,
      int steps,
      String spacing,
      int stepsOffset,
      String sigmas,
      boolean integerTimesteps) {
    int trainSteps = alphasCumprod.length;
    double[] timesteps = new double[steps];
    switch (spacing) {
      case "linspace" -> {
        // np.linspace(0, T - 1, N, dtype=float32)[::-1]
        double[] v = ReferenceSamplers.npLinspace(trainSteps - 1, steps);
        for (int i = 0; i < steps; i++) {
          timesteps[i] = (float) v[steps - 1 - i];
        }
      }
      case "leading" -> {
        int ratio = trainSteps / steps;
        for (int i = 0; i < steps; i++) {
          timesteps[i] = (steps - 1 - i) * ratio + stepsOffset;
        }
      }
      case "trailing" -> {
        double[] v = ReferenceSamplers.npArange(trainSteps, -(double) trainSteps / steps, steps);
        for (int i = 0; i < steps; i++) {
          timesteps[i] = Math.rint(v[i]) - 1;
        }
      }
      default -> throw new IllegalArgumentException(spacing);
    }
    if (integerTimesteps) {
      for (int i = 0; i < steps; i++) {
        timesteps[i] = Math.rint(timesteps[i]);
      }
    }
    double[] trainSigmas = trainSigmas(alphasCumprod);
    double[] logSigmas = logs(trainSigmas);
    double[] s = new double[steps];
    for (int i = 0; i < steps; i++) {
      s[i] = interp(timesteps[i], trainSigmas);
    }
    if (!sigmas.equals("none")) {
      s = convert(sigmas, s[0], s[steps - 1], steps);
      for (int i = 0; i < steps; i++) {
        timesteps[i] = sigmaToT(s[i], logSigmas);
      }
    }
    double[] withZero = new double[steps + 1];
    System.arraycopy(s, 0, withZero, 0, steps);
    return new Levels(timesteps, withZero);
  }

  /** {@code _convert_to_karras} (ρ = 7) or {@code _convert_to_exponential}. */
  static double[] convert(String sigmas, double sigmaMax, double sigmaMin, int steps) {
    double[] ramp = ReferenceSamplers.npLinspace(1.0, steps);
    double[] out = new double[steps];
    for (int i = 0; i < steps; i++) {
      if (sigmas.equals("karras")) {
        double rho = 7.0;
        double minInvRho = Math.pow(sigmaMin, 1 / rho);
        double maxInvRho = Math.pow(sigmaMax, 1 / rho);
        out[i] = Math.pow(maxInvRho + ramp[i] * (minInvRho - maxInvRho), rho);
      } else {
        out[i] = Math.exp(Math.log(sigmaMax) + ramp[i] * (Math.log(sigmaMin) - Math.log(sigmaMax)));
      }
    }
    return out;
  }

  /** {@code np.interp(t, arange(T), values)}. */
  static double interp(double t, double[] values) {
    int lo = (int) Math.floor(t);
    if (lo >= values.length - 1) {
      return values[values.length - 1];
    }
    double w = t - lo;
    return values[lo] + w * (values[lo + 1] - values[lo]);
  }

  /** diffusers' training σ: σ_t = √((1 − ᾱ_t) / ᾱ_t) for t = 0 … T − 1. */
  static double[] trainSigmas(double[] alphasCumprod) {
    double[] sigmas = new double[alphasCumprod.length];
    for (int t = 0; t < sigmas.length; t++) {
      sigmas[t] = Math.sqrt((1 - alphasCumprod[t]) / alphasCumprod[t]);
    }
    return sigmas;
  }

  /** Natural logarithms, element by element. */
  static double[] logs(double[] values) {
    double[] logs = new double[values.length];
    for (int i = 0; i < values.length; i++) {
      logs[i] = Math.log(values[i]);
    }
    return logs;
  }

  /** linspace spacing: np.linspace(0, T - 1, N + 1).round()[::-1][:-1]. */
  static double[] linspaceTimesteps(int trainSteps, int steps) {
    double[] v = ReferenceSamplers.npLinspace(trainSteps - 1, steps + 1);
    double[] timesteps = new double[steps];
    for (int i = 0; i < steps; i++) {
      timesteps[i] = Math.rint(v[steps - i]);
    }
    return timesteps;
  }

  /** {@code _sigma_to_t}: linear in log σ between the training timesteps around σ. */
  static double sigmaToT(double sigma, double[] logSigmas) {
    double logSigma = Math.log(Math.max(sigma, 1e-10));
    // np.cumsum(dists >= 0).argmax(): the first index of the largest count
    int count = 0;
    int best = 0;
    int bestIndex = 0;
    for (int t = 0; t < logSigmas.length; t++) {
      if (logSigma - logSigmas[t] >= 0) {
        count++;
      }
      if (count > best) {
        best = count;
        bestIndex = t;
      }
    }
    int low = Math.min(bestIndex, logSigmas.length - 2);
    int high = low + 1;
    double w = (logSigmas[low] - logSigma) / (logSigmas[low] - logSigmas[high]);
    w = Math.min(Math.max(w, 0), 1);
    return (1 - w) * low + w * high;
  }

  /** diffusers' dummy model at a possibly fractional t. */
  static double model(double sample, double t) {
    return sample * t / (t + 1);
  }

  /** pred_original_sample of the three schedulers at σ (σ_input for Heun). */
  static double x0(Prediction prediction, double sample, double out, double sigma) {
    return switch (prediction) {
      case EPSILON -> sample - sigma * out;
      case V_PREDICTION ->
          out * (-sigma / Math.sqrt(sigma * sigma + 1)) + sample / (sigma * sigma + 1);
      case SAMPLE -> out;
    };
  }

  /**
   * The full loop.
   *
   * @param start the dummy sample (DIFFUSERS_TEST: times init_noise_sigma) or x_start in the
   *     model's input scale (PIPELINE)
   * @param noise z of model evaluation i (Euler ancestral), or null
   * @return the final sample
   */
  public static double[] run(
      Kind kind,
      Levels levels,
      Prediction prediction,
      Drive drive,
      String spacing,
      double[] start,
      IntFunction<double[]> noise) {
    boolean test = drive == Drive.DIFFUSERS_TEST;
    int steps = levels.timesteps().length;
    // the scheduler's own timestep and sigma arrays
    double[] timesteps;
    double[] sigmas;
    if (kind == Kind.HEUN) {
      // cat([sigmas[:1], sigmas[1:-1].repeat_interleave(2), sigmas[-1:]]), same for timesteps
      timesteps = new double[2 * steps - 1];
      sigmas = new double[2 * steps];
      timesteps[0] = levels.timesteps()[0];
      sigmas[0] = levels.sigmas()[0];
      for (int j = 1; j < steps; j++) {
        timesteps[2 * j - 1] = levels.timesteps()[j];
        timesteps[2 * j] = levels.timesteps()[j];
        sigmas[2 * j - 1] = levels.sigmas()[j];
        sigmas[2 * j] = levels.sigmas()[j];
      }
      sigmas[2 * steps - 1] = 0;
    } else {
      timesteps = levels.timesteps().clone();
      sigmas = levels.sigmas().clone();
    }
    if (!test) {
      for (int i = 0; i < timesteps.length; i++) {
        timesteps[i] = Math.rint(timesteps[i]);
      }
    }
    double sigmaMax = sigmas[0];
    double initNoiseSigma =
        kind == Kind.EULER && (spacing.equals("linspace") || spacing.equals("trailing"))
            ? sigmaMax
            : Math.sqrt(sigmaMax * sigmaMax + 1);
    int n = start.length;
    double[] x = new double[n];
    for (int k = 0; k < n; k++) {
      x[k] = test ? start[k] * initNoiseSigma : start[k] * Math.sqrt(sigmaMax * sigmaMax + 1);
    }
    // Heun's state
    double[] prevDerivative = new double[n];
    double[] heunSample = new double[n];
    double heunDt = 0;
    for (int i = 0; i < timesteps.length; i++) {
      double t = timesteps[i];
      double sigma = sigmas[i];
      double[] scaled = new double[n];
      for (int k = 0; k < n; k++) {
        scaled[k] = x[k] / Math.sqrt(sigma * sigma + 1);
      }
      double[] sample = test ? scaled : x;
      double[] next = new double[n];
      double[] z = kind == Kind.EULER_ANCESTRAL ? noise.apply(i) : null;
      boolean firstOrder = kind != Kind.HEUN || i % 2 == 0;
      for (int k = 0; k < n; k++) {
        double out = model(scaled[k], t);
        switch (kind) {
          case EULER -> {
            double pred = x0(prediction, sample[k], out, sigma);
            double derivative = (sample[k] - pred) / sigma;
            double dt = sigmas[i + 1] - sigma;
            next[k] = sample[k] + derivative * dt;
          }
          case EULER_ANCESTRAL -> {
            double pred = x0(prediction, sample[k], out, sigma);
            double sigmaFrom = sigma;
            double sigmaTo = sigmas[i + 1];
            double sigmaUp =
                Math.sqrt(
                    sigmaTo
                        * sigmaTo
                        * (sigmaFrom * sigmaFrom - sigmaTo * sigmaTo)
                        / (sigmaFrom * sigmaFrom));
            double sigmaDown = Math.sqrt(sigmaTo * sigmaTo - sigmaUp * sigmaUp);
            double derivative = (sample[k] - pred) / sigma;
            double dt = sigmaDown - sigma;
            next[k] = sample[k] + derivative * dt + z[k] * sigmaUp;
          }
          case HEUN -> {
            double sigmaHat;
            double sigmaNext;
            if (firstOrder) {
              sigmaHat = sigmas[i];
              sigmaNext = sigmas[i + 1];
            } else {
              sigmaHat = sigmas[i - 1];
              sigmaNext = sigmas[i];
            }
            double sigmaInput = firstOrder ? sigmaHat : sigmaNext;
            double pred = x0(prediction, sample[k], out, sigmaInput);
            if (firstOrder) {
              double derivative = (sample[k] - pred) / sigmaHat;
              double dt = sigmaNext - sigmaHat;
              prevDerivative[k] = derivative;
              heunDt = dt;
              heunSample[k] = sample[k];
              next[k] = sample[k] + derivative * dt;
            } else {
              double derivative = (sample[k] - pred) / sigmaNext;
              derivative = (prevDerivative[k] + derivative) / 2;
              next[k] = heunSample[k] + derivative * heunDt;
            }
          }
        }
      }
      x = next;
    }
    return x;
  }

  /**
   * diffusers' {@code LMSDiscreteScheduler} with {@code step(order=order)}: the derivatives (x^σ -
   * x̂_0)/σ of the last {@code min(i + 1, order)} steps, weighted by the integrals of their
   * Lagrange basis polynomials over [σ_i, σ_{i+1}] ({@code get_lms_coefficient}; evaluated here in
   * product form by Simpson's rule, exact for the cubics of order 4 and below).
   *
   * @param levels from {@link #levels}
   * @param start the dummy sample (DIFFUSERS_TEST: times init_noise_sigma) or x_start in the
   *     model's input scale at σ_from (PIPELINE)
   * @param from the first step run: the derivatives start empty there and the order counts from it
   *     (PIPELINE only)
   * @return the final sample
   */
  public static double[] lms(
      Levels levels,
      int order,
      Prediction prediction,
      Drive drive,
      String spacing,
      double[] start,
      int from) {
    boolean test = drive == Drive.DIFFUSERS_TEST;
    double[] timesteps = levels.timesteps().clone();
    double[] sigmas = levels.sigmas().clone();
    for (int i = 0; i < sigmas.length; i++) {
      if (test) {
        // set_timesteps stores σ as float32, and get_lms_coefficient integrates on those
        sigmas[i] = (float) sigmas[i];
      } else if (i < timesteps.length) {
        timesteps[i] = Math.rint(timesteps[i]);
      }
    }
    double sigmaMax = sigmas[0];
    double initNoiseSigma =
        spacing.equals("linspace") || spacing.equals("trailing")
            ? sigmaMax
            : Math.sqrt(sigmaMax * sigmaMax + 1);
    double sigmaFrom = sigmas[from];
    int n = start.length;
    double[] x = new double[n];
    for (int k = 0; k < n; k++) {
      x[k] = test ? start[k] * initNoiseSigma : start[k] * Math.sqrt(sigmaFrom * sigmaFrom + 1);
    }
    java.util.List<double[]> derivatives = new java.util.ArrayList<>();
    for (int i = from; i < timesteps.length; i++) {
      double sigma = sigmas[i];
      double[] sample = new double[n];
      double[] derivative = new double[n];
      for (int k = 0; k < n; k++) {
        double scaled = x[k] / Math.sqrt(sigma * sigma + 1);
        sample[k] = test ? scaled : x[k];
        double pred = x0(prediction, sample[k], model(scaled, timesteps[i]), sigma);
        derivative[k] = (sample[k] - pred) / sigma;
      }
      derivatives.add(derivative);
      if (derivatives.size() > order) {
        derivatives.remove(0);
      }
      int currentOrder = Math.min(i - from + 1, order);
      double[] next = sample.clone();
      for (int c = 0; c < currentOrder; c++) {
        double coeff = lmsCoefficient(sigmas, currentOrder, i, c);
        double[] d = derivatives.get(derivatives.size() - 1 - c);
        for (int k = 0; k < n; k++) {
          next[k] += coeff * d[k];
        }
      }
      x = next;
    }
    return x;
  }

  /** {@code get_lms_coefficient(order, t, current_order)}: Simpson's rule on the product form. */
  static double lmsCoefficient(double[] sigmas, int order, int t, int currentOrder) {
    java.util.function.DoubleUnaryOperator basis =
        tau -> {
          double prod = 1.0;
          for (int k = 0; k < order; k++) {
            if (currentOrder == k) {
              continue;
            }
            prod *= (tau - sigmas[t - k]) / (sigmas[t - currentOrder] - sigmas[t - k]);
          }
          return prod;
        };
    double a = sigmas[t];
    double b = sigmas[t + 1];
    return (b - a)
        / 6
        * (basis.applyAsDouble(a) + 4 * basis.applyAsDouble((a + b) / 2) + basis.applyAsDouble(b));
  }

  /**
   * diffusers' {@code DPMSolverMultistepScheduler} (midpoint, solver_order 1 or 2, no thresholding)
   * with algorithm_type "dpmsolver++" or "sde-dpmsolver++", driven as its tests do (the model sees
   * x and the integer timestep; init_noise_sigma = 1).
   *
   * @param sigmaKind "none", "karras" or "lu"
   * @param noise z of step i (SDE), or null
   */
  public static double[] dpmSolver(
      double[] alphasCumprod,
      int steps,
      int order,
      String sigmaKind,
      boolean lowerOrderFinal,
      boolean eulerAtFinal,
      boolean finalSigmaZero,
      boolean sde,
      Prediction prediction,
      double[] start,
      IntFunction<double[]> noise) {
    int trainSteps = alphasCumprod.length;
    double[] trainSigmas = trainSigmas(alphasCumprod);
    double[] logSigmas = logs(trainSigmas);
    double[] timesteps = linspaceTimesteps(trainSteps, steps);
    double[] sigmas = new double[steps + 1];
    if (sigmaKind.equals("none")) {
      for (int i = 0; i < steps; i++) {
        sigmas[i] = interp(timesteps[i], trainSigmas);
      }
    } else {
      // Karras: flipped training σ, from σ(T-1) to σ(0); Lu: λ = log σ linear, ρ = 1
      double[] levels =
          convert(
              sigmaKind.equals("karras") ? "karras" : "exponential",
              trainSigmas[trainSteps - 1],
              trainSigmas[0],
              steps);
      for (int i = 0; i < steps; i++) {
        sigmas[i] = levels[i];
        timesteps[i] = Math.rint(sigmaToT(levels[i], logSigmas));
      }
    }
    sigmas[steps] = finalSigmaZero ? 0 : trainSigmas[0];
    int n = start.length;
    double[] x = start.clone();
    double[] m1 = null;
    int lowerOrderNums = 0;
    for (int i = 0; i < steps; i++) {
      double alphaS0 = 1 / Math.sqrt(sigmas[i] * sigmas[i] + 1);
      double sigmaS0 = sigmas[i] * alphaS0;
      double alphaT = 1 / Math.sqrt(sigmas[i + 1] * sigmas[i + 1] + 1);
      double sigmaT = sigmas[i + 1] * alphaT;
      double lambdaT = Math.log(alphaT) - Math.log(sigmaT);
      double lambdaS0 = Math.log(alphaS0) - Math.log(sigmaS0);
      double h = lambdaT - lambdaS0;
      boolean lowerFinal =
          i == steps - 1 && (eulerAtFinal || (lowerOrderFinal && steps < 15) || finalSigmaZero);
      boolean first = order == 1 || lowerOrderNums < 1 || lowerFinal;
      double[] z = sde ? noise.apply(i) : null;
      double[] m0 = new double[n];
      double[] next = new double[n];
      for (int k = 0; k < n; k++) {
        double out = model(x[k], timesteps[i]);
        m0[k] =
            switch (prediction) {
              case EPSILON -> (x[k] - sigmaS0 * out) / alphaS0;
              case SAMPLE -> out;
              case V_PREDICTION -> alphaS0 * x[k] - sigmaS0 * out;
            };
        double d1 = 0;
        if (!first) {
          double alphaS1 = 1 / Math.sqrt(sigmas[i - 1] * sigmas[i - 1] + 1);
          double sigmaS1 = sigmas[i - 1] * alphaS1;
          double lambdaS1 = Math.log(alphaS1) - Math.log(sigmaS1);
          double r0 = (lambdaS0 - lambdaS1) / h;
          d1 = (m0[k] - m1[k]) / r0;
        }
        if (sde) {
          next[k] =
              (sigmaT / sigmaS0 * Math.exp(-h)) * x[k]
                  + (alphaT * (1 - Math.exp(-2.0 * h))) * m0[k]
                  + 0.5 * (alphaT * (1 - Math.exp(-2.0 * h))) * d1
                  + sigmaT * Math.sqrt(1.0 - Math.exp(-2 * h)) * z[k];
        } else {
          next[k] =
              (sigmaT / sigmaS0) * x[k]
                  - (alphaT * (Math.exp(-h) - 1.0)) * m0[k]
                  - 0.5 * (alphaT * (Math.exp(-h) - 1.0)) * d1;
        }
      }
      m1 = m0;
      if (lowerOrderNums < order) {
        lowerOrderNums++;
      }
      x = next;
    }
    return x;
  }
}
