package org.tfdiffusion.schedule;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;
import static org.tfdiffusion.testing.ArrayAsserts.assertRelativelyClose;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.tfdiffusion.testing.ReferenceSchedule;

/**
 * β of every {@link BetaSchedule} against {@link ReferenceSchedule} (the formulas written again in
 * plain Java) and against values computed once with mpmath at 40 significant digits.
 */
class BetaScheduleTest {
  private static final int T = 1000;
  private static final double START = 1e-4;
  private static final double END = 0.02;

  /**
   * Both sides evaluate the same closed formulas in double, in a slightly different order (for
   * instance {@code start + step * i} against {@code start + (end - start) * i / (T - 1)}); that
   * costs a few ulps, far below 1e-12.
   */
  private static final double PARITY = 1e-12;

  /** Literals from mpmath (40 digits) agree with a double computation to about 1e-15. */
  private static final double KNOWN = 1e-13;

  static double[] reference(BetaSchedule kind, int timesteps, double start, double end) {
    return ReferenceSchedule.betas(kind, timesteps, start, end);
  }

  @ParameterizedTest
  @EnumSource(BetaSchedule.class)
  void betasMatchTheFormulaForEveryLength(BetaSchedule kind) {
    for (int timesteps : new int[] {1, 2, 3, 10, 50, T, 4000}) {
      assertRelativelyClose(
          kind + " T=" + timesteps,
          kind.betas(timesteps, START, END),
          reference(kind, timesteps, START, END),
          PARITY);
    }
  }

  @ParameterizedTest
  @EnumSource(
      value = BetaSchedule.class,
      names = {"LINEAR", "SCALED_LINEAR", "SIGMOID"})
  void betasMatchTheFormulaForStableDiffusionRange(BetaSchedule kind) {
    assertRelativelyClose(
        kind + " 0.00085..0.012",
        kind.betas(T, 0.00085, 0.012),
        reference(kind, T, 0.00085, 0.012),
        PARITY);
  }

  @Test
  void linearEndsAreTheTutorialsValues() {
    double[] betas = BetaSchedule.LINEAR.betas(T, START, END);
    assertThat(betas).hasSize(T);
    assertThat(betas[0]).isEqualTo(1e-4);
    assertThat(betas[T - 1]).isCloseTo(0.02, within(1e-18));
    // β_500 = 1e-4 + 0.0199 * 500 / 999
    assertThat(betas[500]).isCloseTo(1e-4 + 0.0199 * 500.0 / 999.0, within(1e-17));
    for (int t = 1; t < T; t++) {
      assertThat(betas[t] - betas[t - 1]).isCloseTo(0.0199 / 999.0, within(1e-15));
    }
  }

  @Test
  void scaledLinearIsLinearInTheSquareRoot() {
    double[] betas = BetaSchedule.SCALED_LINEAR.betas(T, 0.00085, 0.012);
    assertThat(betas[0]).isCloseTo(0.00085, within(KNOWN * 0.00085));
    assertThat(betas[T - 1]).isCloseTo(0.012, within(KNOWN * 0.012));
    // mpmath: (sqrt(0.00085) + (sqrt(0.012) - sqrt(0.00085)) * 500 / 999)^2
    assertThat(betas[500]).isCloseTo(0.0048149541417118790, within(KNOWN * 0.0048));
    double step = Math.sqrt(betas[1]) - Math.sqrt(betas[0]);
    for (int t = 1; t < T; t++) {
      assertThat(Math.sqrt(betas[t]) - Math.sqrt(betas[t - 1])).isCloseTo(step, within(1e-14));
    }
  }

  @Test
  void sigmoidEndsAreTheLogisticOfSix() {
    double[] betas = BetaSchedule.SIGMOID.betas(T, START, END);
    // mpmath: 1 / (1 + exp(6)) * 0.0199 + 1e-4 and 1 / (1 + exp(-6)) * 0.0199 + 1e-4
    assertThat(betas[0]).isCloseTo(1.4920520081703201e-4, within(KNOWN * 1.5e-4));
    assertThat(betas[T - 1]).isCloseTo(0.019950794799182968, within(KNOWN * 0.02));
    // symmetric about the midpoint: β_t + β_{T-1-t} = β_start + β_end
    for (int t = 0; t < T; t++) {
      assertThat(betas[t] + betas[T - 1 - t]).isCloseTo(START + END, within(1e-15));
    }
  }

  @Test
  void cosineStartsAtTheImprovedDdpmValueAndIsClippedOnlyAtTheEnd() {
    double[] betas = BetaSchedule.COSINE.betas(T, START, END);
    // mpmath: 1 - cos^2((0.001 + s)/(1 + s) pi/2) / cos^2(s/(1 + s) pi/2)
    assertThat(betas[0]).isCloseTo(4.1284224821777802e-5, within(1e-11 * 4.1e-5));
    // mpmath: 1 - cos^2((0.999 + s)/(1 + s) pi/2) / cos^2((0.998 + s)/(1 + s) pi/2)
    assertThat(betas[T - 2]).isCloseTo(0.74999939290116203, within(1e-12));
    assertThat(betas[T - 1]).isEqualTo(BetaSchedule.COSINE_MAX_BETA).isEqualTo(0.999);
    assertThat(java.util.Arrays.stream(betas).boxed())
        .allSatisfy(b -> assertThat(b).isGreaterThan(0.0).isLessThanOrEqualTo(0.999));
    long clipped = java.util.Arrays.stream(betas).filter(b -> b == 0.999).count();
    assertThat(clipped).as("betas clipped at 0.999 (mpmath: only the last)").isEqualTo(1);
    // monotone: each step removes a larger share of the remaining signal
    for (int t = 1; t < T; t++) {
      assertThat(betas[t]).isGreaterThan(betas[t - 1]);
    }
  }

  @Test
  void cosineIgnoresBetaStartAndEnd() {
    assertThat(BetaSchedule.COSINE.betas(100, 0.3, 0.4))
        .containsExactly(BetaSchedule.COSINE.betas(100, START, END));
  }

  @Test
  void cosineWithOneStepIsClipped() {
    // ᾱ(1) = cos²(π/2) ≈ 0, so β = 1 - 0 is clipped.
    assertThat(BetaSchedule.COSINE.betas(1, START, END)).containsExactly(0.999);
  }

  @ParameterizedTest
  @EnumSource(
      value = BetaSchedule.class,
      names = {"LINEAR", "SCALED_LINEAR"})
  void oneStepIsBetaStartAsTorchLinspace(BetaSchedule kind) {
    // torch.linspace(start, end, 1) == [start]
    assertThat(kind.betas(1, 0.005, 0.02)).hasSize(1);
    assertThat(kind.betas(1, 0.005, 0.02)[0]).isCloseTo(0.005, within(1e-17));
  }

  @Test
  void sigmoidWithOneStepUsesMinusSix() {
    // torch.linspace(-6, 6, 1) == [-6]
    assertThat(BetaSchedule.SIGMOID.betas(1, START, END)[0])
        .isCloseTo(1.4920520081703201e-4, within(KNOWN * 1.5e-4));
  }

  @ParameterizedTest
  @EnumSource(BetaSchedule.class)
  void eachCallReturnsAFreshArray(BetaSchedule kind) {
    double[] first = kind.betas(10, START, END);
    double keep = first[3];
    first[3] = -1.0;
    assertThat(kind.betas(10, START, END)[3]).isEqualTo(keep);
  }

  @ParameterizedTest
  @ValueSource(ints = {0, -1, Integer.MIN_VALUE})
  void refusesFewerThanOneStep(int timesteps) {
    for (BetaSchedule kind : BetaSchedule.values()) {
      assertThatThrownBy(() -> kind.betas(timesteps, START, END))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("timesteps")
          .hasMessageContaining("got " + timesteps);
    }
  }

  @ParameterizedTest
  @CsvSource({
    "linear, LINEAR",
    "LINEAR, LINEAR",
    "'  Linear  ', LINEAR",
    "scaled_linear, SCALED_LINEAR",
    "scaled-linear, SCALED_LINEAR",
    "Scaled_Linear, SCALED_LINEAR",
    "cosine, COSINE",
    "squaredcos_cap_v2, COSINE",
    "SquaredCos_Cap_V2, COSINE",
    "sigmoid, SIGMOID",
  })
  void lookupAcceptsNamesAndDiffusersAliases(String name, BetaSchedule expected) {
    assertThat(BetaSchedule.lookup(name)).isEqualTo(expected);
  }

  @ParameterizedTest
  @EnumSource(BetaSchedule.class)
  void lookupRoundTripsConfigNameAndConstantName(BetaSchedule kind) {
    assertThat(BetaSchedule.lookup(kind.configName())).isEqualTo(kind);
    assertThat(BetaSchedule.lookup(kind.name())).isEqualTo(kind);
    assertThat(kind.configName()).isEqualTo(kind.name().toLowerCase(java.util.Locale.ROOT));
  }

  @ParameterizedTest
  @ValueSource(strings = {"quadratic", "", "linear2", "cos"})
  void lookupOfAnUnknownNameListsTheValidOnes(String name) {
    assertThatThrownBy(() -> BetaSchedule.lookup(name))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("'" + name + "'")
        .hasMessageEndingWith("; valid: linear, scaled_linear, cosine, sigmoid");
  }

  @Test
  void lookupOfNullListsTheValidNames() {
    assertThatThrownBy(() -> BetaSchedule.lookup(null))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContainingAll("null", "linear", "cosine", "sigmoid");
  }
}
