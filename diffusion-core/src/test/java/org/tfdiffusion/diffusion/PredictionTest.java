package org.tfdiffusion.diffusion;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Locale;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/** Names, diffusers aliases and error messages of {@link Prediction}. */
class PredictionTest {
  @ParameterizedTest
  @CsvSource({
    "epsilon, EPSILON",
    "eps, EPSILON",
    "EPSILON, EPSILON",
    "' Epsilon ', EPSILON",
    "sample, SAMPLE",
    "x0, SAMPLE",
    "X0, SAMPLE",
    "v_prediction, V_PREDICTION",
    "V_Prediction, V_PREDICTION",
    "v, V_PREDICTION",
    "v-prediction, V_PREDICTION",
  })
  void lookupAcceptsNamesAndDiffusersAliases(String name, Prediction expected) {
    assertThat(Prediction.lookup(name)).isEqualTo(expected);
  }

  @ParameterizedTest
  @EnumSource(Prediction.class)
  void configNameIsDiffusersPredictionTypeAndRoundTrips(Prediction kind) {
    assertThat(Prediction.lookup(kind.configName())).isEqualTo(kind);
    assertThat(Prediction.lookup(kind.name())).isEqualTo(kind);
    assertThat(Prediction.lookup(kind.name().toLowerCase(Locale.ROOT))).isEqualTo(kind);
  }

  @Test
  void configNamesAreDiffusersPredictionTypes() {
    assertThat(Prediction.EPSILON.configName()).isEqualTo("epsilon");
    assertThat(Prediction.SAMPLE.configName()).isEqualTo("sample");
    assertThat(Prediction.V_PREDICTION.configName()).isEqualTo("v_prediction");
  }

  @ParameterizedTest
  @ValueSource(strings = {"noise", "", "x_0", "epsilon2"})
  void lookupOfAnUnknownNameListsTheValidOnes(String name) {
    assertThatThrownBy(() -> Prediction.lookup(name))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("'" + name + "'")
        .hasMessageEndingWith("; valid: epsilon, sample, v_prediction");
  }

  @Test
  void lookupOfNullListsTheValidNames() {
    assertThatThrownBy(() -> Prediction.lookup(null))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContainingAll("null", "epsilon", "sample", "v_prediction");
  }

  @Test
  void validNamesListsTheCanonicalNamesAndAliasesStillWork() {
    assertThat(Prediction.validNames()).isEqualTo("epsilon, sample, v_prediction");
    assertThat(Prediction.lookup("eps")).isEqualTo(Prediction.EPSILON);
    assertThat(Prediction.lookup("X0")).isEqualTo(Prediction.SAMPLE);
    assertThat(Prediction.lookup("v-prediction")).isEqualTo(Prediction.V_PREDICTION);
  }
}
