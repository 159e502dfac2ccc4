package org.tfdiffusion.testing;

import java.util.ArrayList;
import java.util.List;
import org.tfdiffusion.diffusion.Prediction;

/**
 * diffusers' {@code PNDMScheduler} in plain Java double precision on whole arrays, independent of
 * {@code org.tfdiffusion.sampling}, written from its source: {@code set_timesteps} (prk_timesteps,
 * plms_timesteps), {@code step_prk} and {@code step_plms} with the scheduler's own state ({@code
 * counter}, {@code ets}, {@code cur_sample}, {@code cur_model_output}), {@code _get_prev_sample}
 * (the PNDM paper's eq. 9), driven as its test's {@code full_loop}: the dummy model {@code sample *
 * t / (t + 1)} at the integer timestep, from the given sample, the PRK steps (unless skipped) then
 * the PLMS steps.
 */
public final class ReferencePndm {
  private ReferencePndm() {}

  /**
   * A PNDMScheduler config and how the model outputs are combined.
   *
   * @param steps num_inference_steps
   * @param spacing "leading", "linspace" or "trailing"
   * @param skipPrkSteps skip_prk_steps
   * @param setAlphaToOne set_alpha_to_one
   * @param convertEach turn every model output into ε at the x and timestep it was evaluated at
   *     before combining (tfdiffusion's convention); false: combine the raw outputs and turn the
   *     combination into ε with the step's sample and timestep ({@code _get_prev_sample}, as
   *     diffusers). The same for ε-prediction.
   * @param from the first PLMS evaluation run (skip_prk_steps only), with empty ets: the
   *     Adams-Bashforth orders rise from 1 (ε' = ets[-1] while one ε is known), without the Heun
   *     step
   */
  public record Config(
      int steps,
      String spacing,
      int stepsOffset,
      boolean skipPrkSteps,
      boolean setAlphaToOne,
      Prediction prediction,
      boolean convertEach,
      int from) {}

  /** {@code _timesteps}, ascending, as set_timesteps lays them. */
  static long[] spacedTimesteps(int trainSteps, int steps, String spacing, int stepsOffset) {
    long[] out = new long[steps];
    switch (spacing) {
      case "linspace" -> {
        double[] v = ReferenceSamplers.npLinspace(trainSteps - 1, steps);
        for (int i = 0; i < steps; i++) {
          out[i] = Math.round(Math.rint(v[i]));
        }
      }
      case "leading" -> {
        int ratio = trainSteps / steps;
        for (int i = 0; i < steps; i++) {
          out[i] = (long) i * ratio + stepsOffset;
        }
      }
      case "trailing" -> {
        // np.round(np.arange(T, 0, -T / N))[::-1] - 1
        double[] v = ReferenceSamplers.npArange(trainSteps, -(double) trainSteps / steps, steps);
        for (int i = 0; i < steps; i++) {
          out[steps - 1 - i] = Math.round(Math.rint(v[i])) - 1;
        }
      }
      default -> throw new IllegalArgumentException(spacing);
    }
    return out;
  }

  /** {@code self.timesteps}: prk_timesteps then plms_timesteps. */
  public static long[] timesteps(int trainSteps, Config c) {
    long[] t = spacedTimesteps(trainSteps, c.steps(), c.spacing(), c.stepsOffset());
    List<Long> prk = new ArrayList<>();
    List<Long> plms = new ArrayList<>();
    int n = t.length;
    if (c.skipPrkSteps()) {
      // concat([_timesteps[:-1], _timesteps[-2:-1], _timesteps[-1:]])[::-1]
      List<Long> forward = new ArrayList<>();
      for (int i = 0; i < n - 1; i++) {
        forward.add(t[i]);
      }
      if (n >= 2) {
        forward.add(t[n - 2]);
      }
      forward.add(t[n - 1]);
      for (int i = forward.size() - 1; i >= 0; i--) {
        plms.add(forward.get(i));
      }
    } else {
      // _timesteps[-pndm_order:].repeat(2) + tile([0, T // N // 2], pndm_order), pndm_order = 4
      long half = trainSteps / c.steps() / 2;
      List<Long> base = new ArrayList<>();
      for (int i = n - 4; i < n; i++) {
        base.add(t[i]);
        base.add(t[i] + half);
      }
      // (prk[:-1].repeat(2)[1:-1])[::-1]
      List<Long> repeated = new ArrayList<>();
      for (int i = 0; i < base.size() - 1; i++) {
        repeated.add(base.get(i));
        repeated.add(base.get(i));
      }
      List<Long> trimmed = repeated.subList(1, repeated.size() - 1);
      for (int i = trimmed.size() - 1; i >= 0; i--) {
        prk.add(trimmed.get(i));
      }
      for (int i = n - 4; i >= 0; i--) {
        plms.add(t[i]);
      }
    }
    long[] all = new long[prk.size() + plms.size()];
    for (int i = 0; i < prk.size(); i++) {
      all[i] = prk.get(i);
    }
    for (int i = 0; i < plms.size(); i++) {
      all[prk.size() + i] = plms.get(i);
    }
    return all;
  }

  /** The number of PRK evaluations at the start of {@link #timesteps}. */
  static int prkCount(Config c) {
    return c.skipPrkSteps() ? 0 : 12;
  }

  /** The scheduler's state between steps. */
  private static final class State {
    final double[] alphasCumprod;
    final Config c;
    final int trainSteps;
    int counter;
    final List<double[]> ets = new ArrayList<>();
    double[] curSample;
    double[] curModelOutput;

    State(double[] alphasCumprod, Config c) {
      this.alphasCumprod = alphasCumprod;
      this.c = c;
      this.trainSteps = alphasCumprod.length;
    }

    double finalAlphaCumprod() {
      return c.setAlphaToOne() ? 1.0 : alphasCumprod[0];
    }

    /** {@code _get_prev_sample}; the model output is ε already when converted per evaluation. */
    double[] prevSample(double[] sample, long timestep, long prevTimestep, double[] modelOutput) {
      double alphaProdT = alphasCumprod[(int) timestep];
      double alphaProdTPrev =
          prevTimestep >= 0 ? alphasCumprod[(int) prevTimestep] : finalAlphaCumprod();
      double betaProdT = 1 - alphaProdT;
      double betaProdTPrev = 1 - alphaProdTPrev;
      double[] out = new double[sample.length];
      double sampleCoeff = Math.sqrt(alphaProdTPrev / alphaProdT);
      double denominator =
          alphaProdT * Math.sqrt(betaProdTPrev)
              + Math.sqrt(alphaProdT * betaProdT * alphaProdTPrev);
      for (int k = 0; k < sample.length; k++) {
        double e = modelOutput[k];
        if (!c.convertEach() && c.prediction() == Prediction.V_PREDICTION) {
          e = Math.sqrt(alphaProdT) * e + Math.sqrt(betaProdT) * sample[k];
        }
        out[k] = sampleCoeff * sample[k] - (alphaProdTPrev - alphaProdT) * e / denominator;
      }
      return out;
    }

    double[] stepPrk(double[] modelOutput, long timestep, double[] sample, long[] prkTimesteps) {
      long diffToPrev = counter % 2 != 0 ? 0 : trainSteps / c.steps() / 2;
      long prevTimestep = timestep - diffToPrev;
      timestep = prkTimesteps[counter / 4 * 4];
      double[] output = modelOutput;
      if (counter % 4 == 0) {
        curModelOutput = combine(curModelOutput, 1, modelOutput, 1.0 / 6);
        ets.add(modelOutput);
        curSample = sample;
      } else if ((counter - 1) % 4 == 0) {
        curModelOutput = combine(curModelOutput, 1, modelOutput, 1.0 / 3);
      } else if ((counter - 2) % 4 == 0) {
        curModelOutput = combine(curModelOutput, 1, modelOutput, 1.0 / 3);
      } else {
        output = combine(curModelOutput, 1, modelOutput, 1.0 / 6);
        curModelOutput = null;
      }
      double[] cur = curSample != null ? curSample : sample;
      double[] prev = prevSample(cur, timestep, prevTimestep, output);
      counter++;
      return prev;
    }

    double[] stepPlms(double[] modelOutput, long timestep, double[] sample) {
      long prevTimestep = timestep - trainSteps / c.steps();
      if (counter != 1) {
        while (ets.size() > 3) {
          ets.remove(0);
        }
        ets.add(modelOutput);
      } else {
        prevTimestep = timestep;
        timestep = timestep + trainSteps / c.steps();
      }
      double[] output;
      int size = ets.size();
      if (size == 1 && counter == 0) {
        output = modelOutput;
        curSample = sample;
      } else if (size == 1 && counter == 1) {
        output = combine(modelOutput, 0.5, ets.get(0), 0.5);
        sample = curSample;
        curSample = null;
      } else if (size == 1) {
        // a history started after the first evaluation (config.from > 0)
        output = ets.get(0);
      } else if (size == 2) {
        output = combine(ets.get(1), 1.5, ets.get(0), -0.5);
      } else if (size == 3) {
        output =
            combine(
                combine(ets.get(2), 23.0 / 12, ets.get(1), -16.0 / 12), 1, ets.get(0), 5.0 / 12);
      } else {
        output =
            combine(
                combine(ets.get(3), 55.0 / 24, ets.get(2), -59.0 / 24),
                1,
                combine(ets.get(1), 37.0 / 24, ets.get(0), -9.0 / 24),
                1);
      }
      double[] prev = prevSample(sample, timestep, prevTimestep, output);
      counter++;
      return prev;
    }
  }

  /** a·x + b·y, with x = null as 0. */
  private static double[] combine(double[] x, double a, double[] y, double b) {
    double[] out = new double[y.length];
    for (int k = 0; k < y.length; k++) {
      out[k] = (x == null ? 0 : a * x[k]) + b * y[k];
    }
    return out;
  }

  /**
   * The full loop.
   *
   * @param start the first sample (diffusers' test: dummy_sample_deter)
   * @return the final sample
   */
  public static double[] fullLoop(double[] alphasCumprod, Config c, double[] start) {
    int trainSteps = alphasCumprod.length;
    long[] timesteps = timesteps(trainSteps, c);
    int prk = prkCount(c);
    long[] prkTimesteps = java.util.Arrays.copyOf(timesteps, prk);
    State state = new State(alphasCumprod, c);
    if (c.from() > 0) {
      // past the Heun step: the counter only has to be neither 0 nor 1
      state.counter = 2;
    }
    double[] sample = start.clone();
    for (int i = c.from(); i < timesteps.length; i++) {
      long t = timesteps[i];
      double[] out = new double[sample.length];
      double alphaBar = alphasCumprod[(int) t];
      for (int k = 0; k < sample.length; k++) {
        double raw = sample[k] * t / (t + 1.0);
        out[k] =
            !c.convertEach()
                ? raw
                : switch (c.prediction()) {
                  case EPSILON -> raw;
                  case V_PREDICTION ->
                      Math.sqrt(alphaBar) * raw + Math.sqrt(1 - alphaBar) * sample[k];
                  case SAMPLE -> (sample[k] - Math.sqrt(alphaBar) * raw) / Math.sqrt(1 - alphaBar);
                };
      }
      sample =
          i < prk ? state.stepPrk(out, t, sample, prkTimesteps) : state.stepPlms(out, t, sample);
    }
    return sample;
  }
}
