package org.tfdiffusion.diffusion;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;
import static org.tfdiffusion.diffusion.GaussianDiffusionTest.images;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;
import org.tensorflow.Operand;
import org.tensorflow.types.TFloat32;
import org.tfdiffusion.schedule.BetaSchedule;
import org.tfdiffusion.testing.GraphRunner;
import org.tfdiffusion.testing.ReferenceSchedule;

/**
 * Min-SNR-γ against its definition (Hang et al. 2023): whatever the network predicts, the weighted
 * loss is {@code mean_b min(SNR_{t_b}, γ) · mean_pixels (x_0 - x̂_0)²}, computed here in double
 * from {@link ReferenceSchedule}'s ᾱ_t, never from the weights under test.
 */
class LossWeightingTest {
  private static final int T = 1000;
  private static final int BATCH = 4;
  private static final int PER_SAMPLE = 4 * 4 * 2;

  /** x̂_0 of the test's "model": a fixed, clearly wrong function of the true x_0. */
  private static float wrongX0(float x0) {
    return 0.5f * x0 + 0.1f;
  }

  @ParameterizedTest
  @EnumSource(Prediction.class)
  void minSnrLossIsTheX0ErrorWeightedByMinSnrGamma(Prediction kind) {
    for (BetaSchedule schedule : new BetaSchedule[] {BetaSchedule.LINEAR, BetaSchedule.COSINE}) {
      GaussianDiffusionTest.Fixture f = GaussianDiffusionTest.Fixture.of(schedule, 41);
      double gamma = LossWeighting.DEFAULT_GAMMA;
      float[] x0Hat = new float[f.x0().length];
      for (int i = 0; i < x0Hat.length; i++) {
        x0Hat[i] = wrongX0(f.x0()[i]);
      }
      double loss =
          GraphRunner.fetchAll(
                  tf -> {
                    GaussianDiffusion d = new GaussianDiffusion(tf, f.schedule());
                    Operand<TFloat32> hat = images(tf, x0Hat);
                    // the model answers x̂_0 in its own kind's terms
                    Denoiser model =
                        (xt, t) ->
                            switch (kind) {
                              case EPSILON -> d.predictEpsFromX0(xt, t, hat);
                              case SAMPLE -> hat;
                              case V_PREDICTION ->
                                  d.velocity(hat, t, d.predictEpsFromX0(xt, t, hat));
                            };
                    return java.util.List.of(
                        d.pLosses(
                                model,
                                kind,
                                LossWeighting.minSnr(gamma),
                                images(tf, f.x0()),
                                tf.constant(f.t()),
                                images(tf, f.noise()))
                            .value());
                  })
              .get(0)
              .values()[0];

      double expected = 0;
      for (int b = 0; b < BATCH; b++) {
        double alphaBar = f.ref().alphasCumprod[f.t()[b]];
        double snr = alphaBar / (1 - alphaBar);
        double mse = 0;
        for (int i = b * PER_SAMPLE; i < (b + 1) * PER_SAMPLE; i++) {
          double e = f.x0()[i] - (double) x0Hat[i];
          mse += e * e / PER_SAMPLE;
        }
        expected += Math.min(snr, gamma) * mse / BATCH;
      }
      assertThat(expected).as("a loss that can tell right from wrong").isGreaterThan(0.01);
      assertThat(loss).as(kind + " on " + schedule).isCloseTo(expected, within(1e-4 * expected));
    }
  }

  @Test
  void uniformWeightsAreOneAndTheUnweightedLossIsUnchanged() {
    GaussianDiffusionTest.Fixture f = GaussianDiffusionTest.Fixture.of(BetaSchedule.LINEAR, 42);
    assertThat(LossWeighting.uniform().weights(f.schedule(), Prediction.EPSILON))
        .hasSize(T)
        .containsOnly(1.0);
    java.util.List<GraphRunner.Fetched> out =
        GraphRunner.fetchAll(
            tf -> {
              GaussianDiffusion d = new GaussianDiffusion(tf, f.schedule());
              Denoiser half = (xt, t) -> tf.math.mul(xt, tf.constant(0.5f));
              Operand<TFloat32> x0 = images(tf, f.x0());
              Operand<TFloat32> noise = images(tf, f.noise());
              return java.util.List.of(
                  d.pLosses(half, Prediction.EPSILON, x0, tf.constant(f.t()), noise).value(),
                  d.pLosses(
                          half,
                          Prediction.EPSILON,
                          LossWeighting.uniform(),
                          x0,
                          tf.constant(f.t()),
                          noise)
                      .value(),
                  d.pLosses(
                          half,
                          Prediction.EPSILON,
                          LossWeighting.minSnr(5),
                          x0,
                          tf.constant(f.t()),
                          noise)
                      .value());
            });
    assertThat(out.get(1).values()[0]).isEqualTo(out.get(0).values()[0]);
    // t = 0 has SNR ≈ 1e4 > 5: its ε error counts 5 / SNR of what it did, so the loss falls
    assertThat(out.get(2).values()[0]).isLessThan(out.get(0).values()[0]);
  }

  @Test
  void epsilonWeightsDropOnlyWhereSnrExceedsGamma() {
    ReferenceSchedule ref = ReferenceSchedule.of(BetaSchedule.LINEAR, T, 1e-4, 0.02);
    double[] w =
        LossWeighting.minSnr(5)
            .weights(
                GaussianDiffusionTest.Fixture.of(BetaSchedule.LINEAR, 1).schedule(),
                Prediction.EPSILON);
    for (int t = 0; t < T; t++) {
      double snr = ref.alphasCumprod[t] / (1 - ref.alphasCumprod[t]);
      if (snr <= 5) {
        assertThat(w[t]).as("t = %d, SNR %.3f", t, snr).isEqualTo(1.0);
      } else {
        assertThat(w[t]).as("t = %d", t).isCloseTo(5 / snr, within(1e-12)).isLessThan(1.0);
      }
    }
  }

  @ParameterizedTest
  @CsvSource({
    "uniform,uniform",
    "none,uniform",
    "min-snr,min-snr-5",
    "MIN_SNR_5,min-snr-5",
    "min-snr-2.5,min-snr-2.5",
    "min-snr-1,min-snr-1"
  })
  void parsesAndPrintsItsForms(String text, String printed) {
    assertThat(LossWeighting.parse(text).toString()).isEqualTo(printed);
    assertThat(LossWeighting.parse(printed)).isEqualTo(LossWeighting.parse(text));
  }

  @Test
  void badFormsAreRefusedWithTheValidOnes() {
    assertThatThrownBy(() -> LossWeighting.parse("snr"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("valid: uniform, min-snr");
    assertThatThrownBy(() -> LossWeighting.parse("min-snr-x"))
        .hasMessageContaining("unknown loss weighting 'min-snr-x'");
    assertThatThrownBy(() -> LossWeighting.parse("min-snr-0"))
        .hasMessageContaining("gamma must be > 0");
  }
}
