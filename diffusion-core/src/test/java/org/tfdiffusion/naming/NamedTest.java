package org.tfdiffusion.naming;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.sampling.SamplerKind;
import org.tfdiffusion.sampling.SigmaSpacing;
import org.tfdiffusion.sampling.TimestepSpacing;
import org.tfdiffusion.sampling.UniPcSampler;
import org.tfdiffusion.schedule.BetaSchedule;

class NamedTest {
  /** A small enum of its own, so the rules are checked apart from any real one. */
  enum Colour implements Named {
    LIGHT_BLUE("light-blue", "sky"),
    RED("red");

    private final List<String> names;

    Colour(String... names) {
      this.names = List.of(names);
    }

    @Override
    public List<String> names() {
      return names;
    }
  }

  @Test
  void aNameIsFoundWhateverItsCaseSpacesOrSeparator() {
    for (String name :
        List.of("light-blue", "LIGHT_BLUE", " Light-Blue ", "light_blue", "sky", "SKY")) {
      assertThat(Named.lookup(Colour.class, "colour", name)).as(name).isEqualTo(Colour.LIGHT_BLUE);
    }
    assertThat(Colour.LIGHT_BLUE.configName()).isEqualTo("light-blue");
    assertThat(Named.validNames(Colour.class)).isEqualTo("light-blue, red");
  }

  @Test
  void anUnknownOrNullNameListsTheValidOnes() {
    assertThatThrownBy(() -> Named.lookup(Colour.class, "colour", "green"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("unknown colour 'green'; valid: light-blue, red");
    assertThatThrownBy(() -> Named.lookup(Colour.class, "colour", null))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("colour is null; valid: light-blue, red");
  }

  static Stream<Class<? extends Enum<?>>> namedEnums() {
    return Stream.of(
        Prediction.class,
        BetaSchedule.class,
        SamplerKind.class,
        SigmaSpacing.class,
        TimestepSpacing.class,
        UniPcSampler.Variant.class);
  }

  /**
   * Every name of every constant finds that constant, and no name is given twice (the lookup
   * already takes '-' for '_').
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("namedEnums")
  @SuppressWarnings({"unchecked", "rawtypes"})
  void everyNameOfEveryConstantFindsIt(Class type) {
    java.util.Set<String> seen = new java.util.HashSet<>();
    for (Object constant : type.getEnumConstants()) {
      Named named = (Named) constant;
      for (String name : named.names()) {
        assertThat(Named.lookup(type, "x", name)).as(name).isEqualTo(constant);
        assertThat(seen.add(name.replace('_', '-'))).as("%s is used once", name).isTrue();
      }
    }
  }
}
