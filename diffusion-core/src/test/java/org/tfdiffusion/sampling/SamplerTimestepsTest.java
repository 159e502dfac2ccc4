package org.tfdiffusion.sampling;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.sampling.DpmSolverPlusPlusSampler.FinalSigma;
import org.tfdiffusion.schedule.BetaSchedule;
import org.tfdiffusion.schedule.NoiseSchedule;

/**
 * The model timesteps of every sampler and spacing, written out literally and worked out by hand
 * from the reference formulas:
 *
 * <pre>
 *   DDIMScheduler.set_timesteps (diffusers)
 *     linspace  np.linspace(0, T - 1, N).round()[::-1]
 *     leading   (np.arange(0, N) * (T // N)).round()[::-1] + steps_offset
 *     trailing  np.round(np.arange(T, 0, -T / N)) - 1
 *   DPMSolverMultistepScheduler.set_timesteps (diffusers)
 *     linspace  np.linspace(0, T - 1, N + 1).round()[::-1][:-1]
 *     leading   (np.arange(0, N + 1) * (T // (N + 1))).round()[::-1][:-1] + steps_offset
 *     trailing  np.arange(T, 0, -T / N).round() - 1
 *   space_timesteps(T, [N]) (improved-diffusion, one section), ascending
 *     frac_stride = (T - 1) / (N - 1); cur_idx = 0.0; N times: take round(cur_idx), cur_idx += frac_stride
 * </pre>
 *
 * numpy's round and Python's round both round halves to even, like {@link Math#rint}.
 */
class SamplerTimestepsTest {
  private static final int T = 1000;
  private static final NoiseSchedule SCHEDULE = NoiseSchedule.linear();
  private static final NoiseSchedule SHORT =
      NoiseSchedule.create(BetaSchedule.LINEAR, 10, 1e-3, 0.2);
  private static final NoiseSchedule T30 = NoiseSchedule.create(BetaSchedule.LINEAR, 30, 1e-3, 0.2);
  private static final NoiseSchedule T7 = NoiseSchedule.create(BetaSchedule.LINEAR, 7, 1e-3, 0.2);

  private static int[] ddim(
      NoiseSchedule schedule, int steps, TimestepSpacing spacing, int offset) {
    return new DdimSampler(steps, 0, spacing, offset, true, 0)
        .plan(schedule, Prediction.EPSILON)
        .timesteps()
        .toArray();
  }

  private static int[] dpm(NoiseSchedule schedule, int steps, TimestepSpacing spacing, int offset) {
    return new DpmSolverPlusPlusSampler(steps, 2, spacing, offset, true, FinalSigma.ZERO)
        .plan(schedule, Prediction.EPSILON)
        .timesteps()
        .toArray();
  }

  @Test
  void ddimLeading() {
    // T // N = 1000 // 5 = 200: arange(0, 5) * 200 = [0, 200, 400, 600, 800], reversed
    assertThat(TimestepSpacing.LEADING.timesteps(T, 5, 0)).containsExactly(800, 600, 400, 200, 0);
    assertThat(ddim(SCHEDULE, 5, TimestepSpacing.LEADING, 0))
        .containsExactly(800, 600, 400, 200, 0);
    // steps_offset = 1 (Stable Diffusion) adds 1 to each
    assertThat(ddim(SCHEDULE, 5, TimestepSpacing.LEADING, 1))
        .containsExactly(801, 601, 401, 201, 1);
    // T = 10, N = 4: 10 // 4 = 2, so [0, 2, 4, 6] reversed; 8 and 9 are never visited
    assertThat(ddim(SHORT, 4, TimestepSpacing.LEADING, 0)).containsExactly(6, 4, 2, 0);
    // N = 1: arange(0, 1) * 1000 = [0]
    assertThat(ddim(SCHEDULE, 1, TimestepSpacing.LEADING, 0)).containsExactly(0);
  }

  @Test
  void ddimLinspace() {
    // linspace(0, 999, 5) = i * 249.75 = [0, 249.75, 499.5, 749.25, 999]
    // round: 249.75 -> 250, 499.5 -> 500 (the even neighbour), 749.25 -> 749
    assertThat(ddim(SCHEDULE, 5, TimestepSpacing.LINSPACE, 0))
        .containsExactly(999, 749, 500, 250, 0);
    // linspace(0, 999, 7) = i * 166.5 = [0, 166.5, 333, 499.5, 666, 832.5, 999]
    // half to even: 166.5 -> 166, 499.5 -> 500, 832.5 -> 832 (rounding half up would give 167, 833)
    assertThat(ddim(SCHEDULE, 7, TimestepSpacing.LINSPACE, 0))
        .containsExactly(999, 832, 666, 500, 333, 166, 0);
    // T = 10, N = 4: linspace(0, 9, 4) = [0, 3, 6, 9]
    assertThat(ddim(SHORT, 4, TimestepSpacing.LINSPACE, 0)).containsExactly(9, 6, 3, 0);
    // N = 1: linspace(0, 999, 1) = [0]
    assertThat(ddim(SCHEDULE, 1, TimestepSpacing.LINSPACE, 0)).containsExactly(0);
    // the offset is for leading spacing only
    assertThat(ddim(SCHEDULE, 5, TimestepSpacing.LINSPACE, 1))
        .containsExactly(999, 749, 500, 250, 0);
  }

  @Test
  void ddimTrailing() {
    // T / N = 200.0: arange(1000, 0, -200) = [1000, 800, 600, 400, 200], minus 1
    assertThat(ddim(SCHEDULE, 5, TimestepSpacing.TRAILING, 0))
        .containsExactly(999, 799, 599, 399, 199);
    // T = 10, N = 4: T / N = 2.5: arange(10, 0, -2.5) = [10, 7.5, 5, 2.5]
    // half to even: 7.5 -> 8, 2.5 -> 2; minus 1
    assertThat(ddim(SHORT, 4, TimestepSpacing.TRAILING, 0)).containsExactly(9, 7, 4, 1);
    // N = 1: arange(1000, 0, -1000) = [1000], minus 1
    assertThat(ddim(SCHEDULE, 1, TimestepSpacing.TRAILING, 0)).containsExactly(999);
    assertThat(ddim(SCHEDULE, 5, TimestepSpacing.TRAILING, 1))
        .containsExactly(999, 799, 599, 399, 199);
  }

  @Test
  void ddimWithAllTrainingTimestepsVisitsEachOnce() {
    int[] descending = new int[T];
    for (int i = 0; i < T; i++) {
      descending[i] = T - 1 - i;
    }
    for (TimestepSpacing spacing : TimestepSpacing.values()) {
      assertThat(ddim(SCHEDULE, T, spacing, 0)).as("%s", spacing).containsExactly(descending);
    }
  }

  @Test
  void dpmSolverLinspace() {
    // linspace(0, 999, 6) = i * 199.8 = [0, 199.8, 399.6, 599.4, 799.2, 999]
    // round: [0, 200, 400, 599, 799, 999]; reversed, the last (0) dropped
    assertThat(dpm(SCHEDULE, 5, TimestepSpacing.LINSPACE, 0))
        .containsExactly(999, 799, 599, 400, 200);
    // T = 10, N = 4: linspace(0, 9, 5) = [0, 2.25, 4.5, 6.75, 9]
    // round: [0, 2, 4, 7, 9] (4.5 -> 4, the even neighbour); reversed, 0 dropped
    assertThat(dpm(SHORT, 4, TimestepSpacing.LINSPACE, 0)).containsExactly(9, 7, 4, 2);
    // N = 1: linspace(0, 999, 2) = [0, 999]; reversed, 0 dropped
    assertThat(dpm(SCHEDULE, 1, TimestepSpacing.LINSPACE, 0)).containsExactly(999);
  }

  @Test
  void dpmSolverLeading() {
    // T // (N + 1) = 1000 // 6 = 166: arange(0, 6) * 166 = [0, 166, 332, 498, 664, 830]
    // reversed, 0 dropped
    assertThat(dpm(SCHEDULE, 5, TimestepSpacing.LEADING, 0))
        .containsExactly(830, 664, 498, 332, 166);
    assertThat(dpm(SCHEDULE, 5, TimestepSpacing.LEADING, 1))
        .containsExactly(831, 665, 499, 333, 167);
    // T = 10, N = 4: 10 // 5 = 2: [0, 2, 4, 6, 8]; reversed, 0 dropped
    assertThat(dpm(SHORT, 4, TimestepSpacing.LEADING, 0)).containsExactly(8, 6, 4, 2);
    // N = 1: 1000 // 2 = 500: [0, 500]; reversed, 0 dropped
    assertThat(dpm(SCHEDULE, 1, TimestepSpacing.LEADING, 0)).containsExactly(500);
  }

  @Test
  void dpmSolverTrailing() {
    // the same formula as DDIM's trailing
    assertThat(dpm(SCHEDULE, 5, TimestepSpacing.TRAILING, 0))
        .containsExactly(999, 799, 599, 399, 199);
    assertThat(dpm(SHORT, 4, TimestepSpacing.TRAILING, 0)).containsExactly(9, 7, 4, 1);
    assertThat(dpm(SCHEDULE, 1, TimestepSpacing.TRAILING, 0)).containsExactly(999);
  }

  @Test
  void linspaceTiesGoWhereNumpysArithmeticPutsThem() {
    // numpy's linspace(0, stop, num) is i * step with step = stop / (num - 1) rounded to double
    // (the last point set to stop). Where i * stop / (num - 1) is exactly a half, the rounding of
    // step decides the tie: 29 / 14 is stored as 2.0714285714285716 (above 29/14), so the point
    // i = 7 is 14.500000000000002 and rounds to 15, where the exact 14.5 would round to 14.
    // DDIM, T = 30, N = 15: linspace(0, 29, 15) = 0, 2.07, 4.14, ..., 14.500000000000002, ..., 29
    assertThat(ddim(T30, 15, TimestepSpacing.LINSPACE, 0))
        .containsExactly(29, 27, 25, 23, 21, 19, 17, 15, 12, 10, 8, 6, 4, 2, 0);
    // DPM-Solver++, T = 30, N = 14: the same 15 points, reversed, 0 dropped
    assertThat(dpm(T30, 14, TimestepSpacing.LINSPACE, 0))
        .containsExactly(29, 27, 25, 23, 21, 19, 17, 15, 12, 10, 8, 6, 4, 2);
    // T = 1000, N = 27: 999 / 26 is stored as 38.42307692307692 (below 999/26), so the point
    // i = 13 is 499.49999999999994 and rounds to 499 (the exact 499.5 would round to 500);
    // descending, it is entry 26 - 13 = 13
    assertThat(ddim(SCHEDULE, 27, TimestepSpacing.LINSPACE, 0)[13]).isEqualTo(499);
  }

  @Test
  void trailingTiesGoWhereNumpysArithmeticPutsThem() {
    // numpy's arange(start, stop, step) stores start and start + step, then fills the rest with
    // start + i * delta, delta = (start + step) - start. arange(7, 0, -7/6): 7/6 is stored as
    // 1.1666666666666667, 7 - 1.1666666666666667 rounds to 5.833333333333333, so delta =
    // -1.166666666666667 and the point i = 3 is 7 + 3 delta = 3.499999999999999, which rounds to
    // 3 where the exact 3.5 would round to 4. Points 7, 5.83, 4.67, 3.4999.., 2.33, 1.17 round to
    // 7, 6, 5, 3, 2, 1; minus 1:
    assertThat(ddim(T7, 6, TimestepSpacing.TRAILING, 0)).containsExactly(6, 5, 4, 2, 1, 0);
    assertThat(dpm(T7, 6, TimestepSpacing.TRAILING, 0)).containsExactly(6, 5, 4, 2, 1, 0);
    // T = 1000, N = 48: the point i = 3 is exactly 1000 - 3 * 1000/48 = 937.5; numpy's delta
    // puts it just below, so it rounds to 937 and the timestep is 936 (not 937)
    assertThat(ddim(SCHEDULE, 48, TimestepSpacing.TRAILING, 0)[3]).isEqualTo(936);
    assertThat(dpm(SCHEDULE, 48, TimestepSpacing.TRAILING, 0)[3]).isEqualTo(936);
  }

  @Test
  void trailingKeepsExactlyNSteps() {
    // 1000 / 61 is stored below 1000/61, so numpy's arange(1000, 0, -1000/61) has
    // ceil(1000 / 16.39344262295082) = ceil(61.00000000000001) = 62 entries, the last -5.7e-13,
    // which diffusers would round to timestep -1 (and then index alphas_cumprod[-1], the last).
    // The sampler takes N = 61 steps, the first 61 of numpy's, ending at
    // round(1000 - 60 * 1000/61) - 1 = round(16.39) - 1 = 15.
    int[] timesteps = ddim(SCHEDULE, 61, TimestepSpacing.TRAILING, 0);
    assertThat(timesteps).hasSize(61);
    assertThat(timesteps[0]).isEqualTo(999);
    assertThat(timesteps[60]).isEqualTo(15);
  }

  @Test
  void ddpmRespacing() {
    // frac_stride = 999 / 4 = 249.75: cur_idx = 0, 249.75, 499.5, 749.25, 999
    // round: 499.5 -> 500 (the even neighbour)
    assertThat(DdpmSampler.respacedTimesteps(T, 5)).containsExactly(0, 250, 500, 749, 999);
    // frac_stride = 999 / 6 = 166.5: cur_idx = 0, 166.5, 333, 499.5, 666, 832.5, 999
    // half to even: 166.5 -> 166, 499.5 -> 500, 832.5 -> 832
    assertThat(DdpmSampler.respacedTimesteps(T, 7))
        .containsExactly(0, 166, 333, 500, 666, 832, 999);
    // T = 10, N = 4: frac_stride = 9 / 3 = 3
    assertThat(DdpmSampler.respacedTimesteps(10, 4)).containsExactly(0, 3, 6, 9);
    // N = 1: frac_stride = 1, one step at 0
    assertThat(DdpmSampler.respacedTimesteps(T, 1)).containsExactly(0);
    // the plan runs them from the top, the model seeing the original timesteps
    assertThat(DdpmSampler.of(5).plan(SCHEDULE, Prediction.EPSILON).timesteps().toArray())
        .containsExactly(999, 749, 500, 250, 0);
    assertThat(DdpmSampler.of(4).plan(SHORT, Prediction.EPSILON).timesteps().toArray())
        .containsExactly(9, 6, 3, 0);
  }

  @Test
  void ddpmRespacingAccumulatesTheFractionalStrideAsImprovedDiffusionDoes() {
    // N = 21: frac_stride = 999 / 20 = 49.95, which a double cannot hold exactly (it is stored as
    // 49.9500000000000028...). improved-diffusion adds it up (cur_idx += frac_stride); after ten
    // additions the sum is 499.49999999999994, below the tie, so Python's round gives 499. The
    // one-multiplication form round(10 * 49.95) = round(499.5) would give 500. The other entries
    // are 49.95 k rounded, with no tie: 50 k for k <= 9 and 50 k - 1 above.
    assertThat(DdpmSampler.respacedTimesteps(T, 21))
        .containsExactly(
            0, 50, 100, 150, 200, 250, 300, 350, 400, 450, 499, 549, 599, 649, 699, 749, 799, 849,
            899, 949, 999);
  }

  @Test
  void ddpmWithAllTrainingTimestepsIsThePlainAlgorithm() {
    int[] ascending = DdpmSampler.respacedTimesteps(T, T);
    for (int t = 0; t < T; t++) {
      assertThat(ascending[t]).isEqualTo(t);
    }
  }
}
