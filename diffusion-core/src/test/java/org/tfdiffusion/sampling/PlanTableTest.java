package org.tfdiffusion.sampling;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.common.primitives.ImmutableDoubleArray;
import java.util.TreeSet;
import java.util.function.Function;
import java.util.function.IntFunction;
import org.junit.jupiter.api.Test;
import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.schedule.NoiseSchedule;

class PlanTableTest {
  private static final NoiseSchedule SCHEDULE = NoiseSchedule.linear();

  private static IntFunction<SamplingPlan> plans(IntFunction<Sampler> sampler) {
    return n -> sampler.apply(n).plan(SCHEDULE, Prediction.EPSILON);
  }

  /** Every plan N, read from the table at its offset, is the plan itself, column by column. */
  private static void assertEveryPlanIsInTheTable(
      PlanTable table, IntFunction<SamplingPlan> plans) {
    SamplingPlan t = table.plan();
    for (int n = 1; n <= table.max(); n++) {
      SamplingPlan p = plans.apply(n);
      int at = table.offset(n);
      assertThat(table.length(n)).isEqualTo(p.steps());
      for (int i = 0; i < p.steps(); i++) {
        assertThat(t.timesteps().get(at + i))
            .as("N %s step %s", n, i)
            .isEqualTo(p.timesteps().get(i));
        assertThat(t.keepsHistory().get(at + i)).isEqualTo(p.keepsHistory().get(i));
      }
      for (Function<SamplingPlan, ImmutableDoubleArray> column :
          java.util.List.<Function<SamplingPlan, ImmutableDoubleArray>>of(
              SamplingPlan::alphasCumprod,
              SamplingPlan::xCoef,
              SamplingPlan::x0Coef,
              SamplingPlan::epsCoef,
              SamplingPlan::x0DeltaCoef,
              SamplingPlan::noiseCoef,
              SamplingPlan::x0Delta2Coef,
              SamplingPlan::x0DeltaRestartCoef,
              SamplingPlan::x0Delta3Coef,
              SamplingPlan::x0DeltaRestart2Coef,
              SamplingPlan::x0Delta2Restart2Coef)) {
        assertThat(column.apply(t).subArray(at, at + p.steps()).toArray())
            .as("N %s", n)
            .containsExactly(column.apply(p).toArray());
      }
      if (p.etaTerms().isPresent()) {
        assertThat(t.etaTerms().get().sigmaUnit().subArray(at, at + p.steps()).toArray())
            .containsExactly(p.etaTerms().get().sigmaUnit().toArray());
        assertThat(t.etaTerms().get().oneMinusAlphaBarPrev().subArray(at, at + p.steps()).toArray())
            .containsExactly(p.etaTerms().get().oneMinusAlphaBarPrev().toArray());
      }
    }
  }

  @Test
  void ddimWithLeadingSpacingStoresOnePlanPerStride() {
    IntFunction<SamplingPlan> ddim = plans(n -> DdimSampler.of(n, 0));
    PlanTable table = PlanTable.of("ddim 1..1000", ddim, 1000);
    // leading spacing: plan N is t = (N-1)s, ..., s, 0 with stride s = 1000 / N (integer
    // division), the tail of the longest plan of its stride, which has 1000 / s steps; N = 1 is
    // the single step t = 0 to ᾱ = 1, the last step of every plan
    TreeSet<Integer> strides = new TreeSet<>();
    for (int n = 2; n <= 1000; n++) {
      strides.add(1000 / n);
    }
    int expected = strides.stream().mapToInt(s -> 1000 / s).sum();
    assertThat(expected).isEqualTo(4510);
    assertThat(table.plan().steps()).isEqualTo(expected);
    assertEveryPlanIsInTheTable(table, ddim);
  }

  @Test
  void multistepPlansShareNothingAndAreLaidEndToEnd() {
    // a plan's first steps have no history, unlike the same timesteps inside a longer plan
    IntFunction<SamplingPlan> dpmpp = plans(DpmSolverPlusPlusSampler::of);
    PlanTable table = PlanTable.of("dpmpp 1..100", dpmpp, 100);
    assertThat(table.plan().steps()).isEqualTo(100 * 101 / 2);
    assertEveryPlanIsInTheTable(table, dpmpp);
  }

  @Test
  void ddpmPlansAreAllInTheTable() {
    IntFunction<SamplingPlan> ddpm = plans(DdpmSampler::of);
    PlanTable table = PlanTable.of("ddpm 1..60", ddpm, 60);
    assertThat(table.plan().steps()).isLessThanOrEqualTo(60 * 61 / 2);
    assertEveryPlanIsInTheTable(table, ddpm);
  }

  @Test
  void aPlanEndsWithItsOwnTailOnly() {
    SamplingPlan ten = DdimSampler.of(10, 0).plan(SCHEDULE, Prediction.EPSILON);
    SamplingPlan five = DdimSampler.of(5, 0).plan(SCHEDULE, Prediction.EPSILON);
    assertThat(ten.endsWith(ten)).isTrue();
    assertThat(five.endsWith(ten)).as("longer than the plan").isFalse();
    // stride 100 against stride 200: same last timestep 0, other coefficients
    assertThat(ten.endsWith(five)).isFalse();
    SamplingPlan eps = DdimSampler.of(10, 0).plan(SCHEDULE, Prediction.V_PREDICTION);
    assertThat(ten.endsWith(eps)).as("another prediction").isFalse();
  }

  @Test
  void refusesAnEmptyTableAndStepsOutsideIt() {
    assertThatThrownBy(() -> PlanTable.of("none", plans(n -> DdimSampler.of(n, 0)), 0))
        .hasMessageContaining("max >= 1");
    PlanTable table = PlanTable.of("ddim 1..3", plans(n -> DdimSampler.of(n, 0)), 3);
    assertThatThrownBy(() -> table.offset(4)).hasMessageContaining("N must be in [1, 3], got 4");
  }
}
