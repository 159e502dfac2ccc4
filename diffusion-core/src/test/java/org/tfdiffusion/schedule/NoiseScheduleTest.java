package org.tfdiffusion.schedule;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;
import static org.tfdiffusion.testing.ArrayAsserts.assertRelativelyClose;

import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.tfdiffusion.testing.ReferenceSchedule;

/**
 * Every coefficient array of {@link NoiseSchedule} against {@link ReferenceSchedule} (the
 * tutorial's formulas written again in plain Java), known values computed with mpmath at 40 digits,
 * the properties the formulas imply, and the refusal of invalid input.
 */
class NoiseScheduleTest {
  private static final int T = NoiseSchedule.DEFAULT_TIMESTEPS;
  private static final double START = 1e-4;
  private static final double END = 0.02;

  /**
   * Code and reference evaluate the same formulas in double; ᾱ is a sequential product in both (as
   * torch.cumprod), so the only differences are a few ulps, well below 1e-12.
   */
  private static final double PARITY = 1e-12;

  /**
   * Against mpmath literals: 1000 sequential double products lose at most about 1000 ulps (2e-13
   * relative), typically far less.
   */
  private static final double KNOWN = 1e-11;

  static NoiseSchedule create(BetaSchedule kind) {
    return NoiseSchedule.create(kind, T, START, END);
  }

  @ParameterizedTest
  @EnumSource(BetaSchedule.class)
  void everyCoefficientMatchesTheFormulaAtEveryTimestep(BetaSchedule kind) {
    NoiseSchedule schedule = create(kind);
    ReferenceSchedule expected = ReferenceSchedule.of(kind, T, START, END);
    assertThat(schedule.timesteps()).isEqualTo(T);
    assertThat(schedule.kind()).contains(kind);
    for (Coefficient c : Coefficient.values()) {
      double[] actual = schedule.get(c).toArray();
      assertRelativelyClose(kind + " " + c.formulaName(), actual, expected.get(c), PARITY);
      for (int t : new int[] {0, 1, T / 2, T - 1}) {
        assertThat(schedule.get(c, t)).isEqualTo(actual[t]);
      }
    }
  }

  @ParameterizedTest
  @EnumSource(BetaSchedule.class)
  void everyCoefficientMatchesTheFormulaForAShortSchedule(BetaSchedule kind) {
    for (int timesteps : new int[] {1, 2, 7}) {
      NoiseSchedule schedule = NoiseSchedule.create(kind, timesteps, 0.001, 0.2);
      ReferenceSchedule expected = ReferenceSchedule.of(kind, timesteps, 0.001, 0.2);
      for (Coefficient c : Coefficient.values()) {
        assertRelativelyClose(
            kind + " T=" + timesteps + " " + c.formulaName(),
            schedule.get(c).toArray(),
            expected.get(c),
            PARITY);
      }
    }
  }

  @Test
  void explicitBetasDeriveEveryCoefficient() {
    double[] betas = {0.3, 0.01, 0.5, 0.999, 1e-6};
    NoiseSchedule schedule = NoiseSchedule.fromBetas(betas);
    ReferenceSchedule expected = new ReferenceSchedule(betas);
    assertThat(schedule.kind()).isEqualTo(Optional.empty());
    for (Coefficient c : Coefficient.values()) {
      assertRelativelyClose(c.formulaName(), schedule.get(c).toArray(), expected.get(c), PARITY);
    }
  }

  @Test
  void linearIsTheTutorialsDefault() {
    NoiseSchedule linear = NoiseSchedule.linear();
    assertThat(linear.kind()).contains(BetaSchedule.LINEAR);
    assertThat(linear.timesteps()).isEqualTo(1000);
    assertThat(linear.betas().get(0)).isEqualTo(1e-4);
    assertThat(linear.betas().get(999)).isCloseTo(0.02, within(1e-17));
    assertRelativelyClose(
        "default betas",
        linear.betas().toArray(),
        ReferenceSchedule.linearBetas(1000, 1e-4, 0.02),
        PARITY);
  }

  @Test
  void defaultLinearScheduleMatchesHighPrecisionValues() {
    NoiseSchedule s = NoiseSchedule.linear();
    // mpmath, 40 digits: ∏_{t<1000} (1 - (1e-4 + 0.0199 t / 999))
    assertKnown(s.get(Coefficient.ALPHAS_CUMPROD, 999), 4.0358297653756833e-5);
    assertKnown(s.get(Coefficient.ALPHAS_CUMPROD, 499), 0.078587242881778237);
    assertKnown(s.get(Coefficient.ALPHAS_CUMPROD, 0), 0.9999);
    assertKnown(s.get(Coefficient.SQRT_RECIPM1_ALPHAS_CUMPROD, 999), 157.40728081040743);
    assertKnown(s.get(Coefficient.POSTERIOR_VARIANCE, 1), 5.4531876613026054e-5);
    assertKnown(s.get(Coefficient.POSTERIOR_VARIANCE, 999), 0.019999983526560607);
    assertKnown(s.get(Coefficient.POSTERIOR_MEAN_COEF1, 1), 0.54529149951027148);
    assertKnown(s.get(Coefficient.POSTERIOR_MEAN_COEF2, 1), 0.45470849899056467);
  }

  @Test
  void otherSchedulesMatchHighPrecisionValues() {
    // mpmath, 40 digits, same formulas
    assertKnown(
        NoiseSchedule.create(BetaSchedule.SCALED_LINEAR, T, 0.00085, 0.012)
            .get(Coefficient.ALPHAS_CUMPROD, 999),
        0.0046600985130772404);
    assertKnown(
        create(BetaSchedule.SIGMOID).get(Coefficient.ALPHAS_CUMPROD, 999), 3.9681819905332078e-5);
    assertKnown(
        create(BetaSchedule.COSINE).get(Coefficient.ALPHAS_CUMPROD, 999), 2.4287669070344684e-9);
  }

  @Test
  void cosineAlphaBarTelescopesToTheClosedForm() {
    // Nichol & Dhariwal define ᾱ_t = f(t) / f(0) directly; β is its step ratio. Before the clip
    // (every t < T-1) the product of 1 - β_s must telescope back to f((t+1)/T) / f(0). A different
    // path through the formulas: only rounding separates the two (1000 products: < 1e-12).
    NoiseSchedule cosine = create(BetaSchedule.COSINE);
    double f0 = ReferenceSchedule.cosineAlphaBar(0.0);
    double[] closedForm = new double[T - 1];
    for (int t = 0; t < T - 1; t++) {
      closedForm[t] = ReferenceSchedule.cosineAlphaBar((t + 1.0) / T) / f0;
    }
    double[] actual = java.util.Arrays.copyOf(cosine.alphasCumprod().toArray(), T - 1);
    assertRelativelyClose("cosine alphas_cumprod vs f(t)/f(0)", actual, closedForm, 1e-12);
    // mpmath: f(0.5) / f(0)
    assertKnown(cosine.get(Coefficient.ALPHAS_CUMPROD, 499), 0.49384359044063771);
  }

  private static void assertKnown(double actual, double expected) {
    assertThat(actual).isCloseTo(expected, within(KNOWN * Math.abs(expected)));
  }

  // --- properties implied by the formulas ---

  @ParameterizedTest
  @EnumSource(BetaSchedule.class)
  void alphaBarIsStrictlyDecreasingInsideTheUnitInterval(BetaSchedule kind) {
    double[] alphaBar = create(kind).alphasCumprod().toArray();
    assertThat(alphaBar[0]).isLessThan(1.0);
    for (int t = 1; t < T; t++) {
      assertThat(alphaBar[t]).as("alphas_cumprod[%d]", t).isLessThan(alphaBar[t - 1]);
    }
    assertThat(alphaBar[T - 1]).isGreaterThan(0.0);
  }

  @ParameterizedTest
  @EnumSource(BetaSchedule.class)
  void posteriorVarianceIsExactlyZeroAtTheFirstStepAndItsLogIsClamped(BetaSchedule kind) {
    NoiseSchedule s = create(kind);
    assertThat(s.get(Coefficient.ALPHAS_CUMPROD_PREV, 0)).isEqualTo(1.0);
    assertThat(s.get(Coefficient.POSTERIOR_VARIANCE, 0)).isEqualTo(0.0);
    assertThat(s.get(Coefficient.POSTERIOR_LOG_VARIANCE_CLIPPED, 0)).isEqualTo(Math.log(1e-20));
    assertThat(s.get(Coefficient.POSTERIOR_MEAN_COEF2, 0)).isEqualTo(0.0);
    // β_0 √1 / (1 - (1 - β_0)) = 1 up to the rounding of 1 - β_0
    assertThat(s.get(Coefficient.POSTERIOR_MEAN_COEF1, 0)).isCloseTo(1.0, within(1e-10));
    // after the first step nothing is clamped: the log is the plain log
    for (int t = 1; t < T; t++) {
      double variance = s.get(Coefficient.POSTERIOR_VARIANCE, t);
      assertThat(variance).isGreaterThan(1e-20);
      assertThat(s.get(Coefficient.POSTERIOR_LOG_VARIANCE_CLIPPED, t))
          .isEqualTo(Math.log(variance));
    }
  }

  @ParameterizedTest
  @EnumSource(BetaSchedule.class)
  void derivedArraysAreConsistentWithEachOther(BetaSchedule kind) {
    NoiseSchedule s = create(kind);
    for (int t = 0; t < T; t++) {
      double beta = s.get(Coefficient.BETAS, t);
      double signal = s.get(Coefficient.SQRT_ALPHAS_CUMPROD, t);
      double noise = s.get(Coefficient.SQRT_ONE_MINUS_ALPHAS_CUMPROD, t);
      // q(x_t | x_0) keeps unit variance for unit-variance data
      assertThat(signal * signal + noise * noise).isCloseTo(1.0, within(1e-15));
      // posterior variance lies between 0 and β (1 - ᾱ_{t-1} <= 1 - ᾱ_t)
      assertThat(s.get(Coefficient.POSTERIOR_VARIANCE, t)).isBetween(0.0, beta * (1 + 1e-15));
      // ᾱ_{t-1} is the previous ᾱ
      if (t > 0) {
        assertThat(s.get(Coefficient.ALPHAS_CUMPROD_PREV, t))
            .isEqualTo(s.get(Coefficient.ALPHAS_CUMPROD, t - 1));
      }
    }
  }

  @Test
  void explicitBetasAreCopied() {
    double[] betas = {0.1, 0.2, 0.3};
    NoiseSchedule schedule = NoiseSchedule.fromBetas(betas);
    betas[1] = 0.9;
    assertThat(schedule.betas().toArray()).containsExactly(0.1, 0.2, 0.3);
    assertThat(schedule.timesteps()).isEqualTo(3);
  }

  @Test
  void singleStepSchedule() {
    NoiseSchedule s = NoiseSchedule.fromBetas(0.25);
    assertThat(s.timesteps()).isEqualTo(1);
    assertThat(s.get(Coefficient.ALPHAS_CUMPROD, 0)).isEqualTo(0.75);
    assertThat(s.get(Coefficient.ALPHAS_CUMPROD_PREV, 0)).isEqualTo(1.0);
    assertThat(s.get(Coefficient.SQRT_RECIPM1_ALPHAS_CUMPROD, 0))
        .isCloseTo(Math.sqrt(1.0 / 3.0), within(1e-15));
    assertThat(s.get(Coefficient.POSTERIOR_VARIANCE, 0)).isEqualTo(0.0);
  }

  @ParameterizedTest
  @ValueSource(ints = {-1, 3, 1000})
  void timestepOutsideTheScheduleIsRefused(int t) {
    NoiseSchedule s = NoiseSchedule.fromBetas(0.1, 0.2, 0.3);
    assertThatThrownBy(() -> s.get(Coefficient.BETAS, t))
        .isInstanceOf(IndexOutOfBoundsException.class)
        .hasMessageContaining("timestep t")
        .hasMessageContaining(String.valueOf(t));
  }

  @Test
  void toStringNamesTheScheduleAndItsLength() {
    assertThat(NoiseSchedule.linear().toString()).contains("linear", "T=1000");
    assertThat(NoiseSchedule.fromBetas(0.1, 0.2).toString()).contains("custom", "T=2");
  }

  // --- invalid input ---

  @ParameterizedTest
  @ValueSource(ints = {0, -1, -1000})
  void refusesFewerThanOneStep(int timesteps) {
    for (BetaSchedule kind : BetaSchedule.values()) {
      assertThatThrownBy(() -> NoiseSchedule.create(kind, timesteps, START, END))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("got " + timesteps);
    }
  }

  @Test
  void refusesAnEmptyListOfBetas() {
    assertThatThrownBy(NoiseSchedule::fromBetas)
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("at least one step");
  }

  @Test
  void refusesABetaAboveOneNamingIndexAndValue() {
    assertThatThrownBy(() -> NoiseSchedule.fromBetas(0.5, 1.2))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("beta[1] = 1.2")
        .hasMessageContaining("(0, 1)");
  }

  @ParameterizedTest
  @ValueSource(doubles = {0.0, -0.0, -1e-4, 1.0, 1.0000001, 7.5})
  void refusesABetaOutsideTheOpenUnitInterval(double beta) {
    assertThatThrownBy(() -> NoiseSchedule.fromBetas(0.1, 0.2, beta))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("beta[2] = " + beta);
  }

  @ParameterizedTest
  @ValueSource(doubles = {Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY})
  void refusesANonFiniteBeta(double beta) {
    assertThatThrownBy(() -> NoiseSchedule.fromBetas(beta, 0.2))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("beta[0] = " + beta)
        .hasMessageContaining("not finite");
  }

  @Test
  void refusesALinearScheduleEndingAtOne() {
    assertThatThrownBy(() -> NoiseSchedule.create(BetaSchedule.LINEAR, T, START, 1.0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("beta_end = 1.0 is outside (0, 1)");
  }

  @Test
  void refusesALinearScheduleEndingAboveOneNamingTheGivenValue() {
    assertThatThrownBy(() -> NoiseSchedule.create(BetaSchedule.LINEAR, T, START, 1.5))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("beta_end = 1.5 is outside (0, 1)");
  }

  @ParameterizedTest
  @EnumSource(
      value = BetaSchedule.class,
      names = {"SCALED_LINEAR", "SIGMOID"})
  void refusesOtherSchedulesLeavingTheUnitInterval(BetaSchedule kind) {
    assertThatThrownBy(() -> NoiseSchedule.create(kind, T, START, 2.0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("beta_end = 2.0 is outside (0, 1)");
    assertThatThrownBy(() -> NoiseSchedule.create(kind, T, -1e-4, END))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("beta_start = -1.0E-4 is outside (0, 1)");
  }

  @Test
  void refusesALinearScheduleStartingAtOrBelowZero() {
    assertThatThrownBy(() -> NoiseSchedule.create(BetaSchedule.LINEAR, T, -0.01, END))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("beta_start = -0.01 is outside (0, 1)");
    assertThatThrownBy(() -> NoiseSchedule.create(BetaSchedule.LINEAR, T, 0.0, END))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("beta_start = 0.0 is outside (0, 1)");
  }

  @ParameterizedTest
  @ValueSource(doubles = {Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY})
  void refusesNonFiniteScheduleEnds(double bad) {
    for (BetaSchedule kind : BetaSchedule.values()) {
      assertThatThrownBy(() -> NoiseSchedule.create(kind, T, bad, END))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("beta_start (" + bad + ")")
          .hasMessageContaining("finite");
      assertThatThrownBy(() -> NoiseSchedule.create(kind, T, START, bad))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("beta_end (" + bad + ")")
          .hasMessageContaining("finite");
    }
  }

  @Test
  void refusesANullScheduleListingTheValidOnes() {
    assertThatThrownBy(() -> NoiseSchedule.create(null, T, START, END))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContainingAll("linear", "scaled_linear", "cosine", "sigmoid");
  }
}
