package org.tfdiffusion.run;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class ProgressMeterTest {
  private static final long SECOND = 1_000_000_000L;

  @Test
  void theTimeLeftComesFromTheStepsAfterTheFirst() {
    ProgressMeter.SteadyRate rate = new ProgressMeter.SteadyRate();
    rate.observe(0, 0);
    rate.observe(1, 30 * SECOND); // the first step: compilation, 30 s
    assertThat(rate.remaining(1, 100)).as("unknown after one step").isEmpty();
    for (int step = 2; step <= 10; step++) {
      rate.observe(step, (30 + 2L * (step - 1)) * SECOND); // then 2 s a step
    }
    // 90 steps at 2 s; counting the first step it would be 90 * 48 / 10 = 432 s
    assertThat(rate.perSecond()).hasValue(0.5);
    assertThat(rate.remaining(10, 100)).hasValue(Duration.ofSeconds(180));
  }

  @Test
  void withoutATerminalItPrintsOneLineAtEachTenth() {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    long[] now = {0};
    try (ProgressMeter meter =
        ProgressMeter.lines(
            "sample", 40, "steps", new PrintStream(bytes, true, UTF_8), () -> now[0])) {
      now[0] = 10 * SECOND; // the first step
      meter.stepTo(1);
      for (int step = 2; step <= 40; step++) {
        now[0] += SECOND;
        meter.stepTo(step);
      }
    }
    List<String> lines = bytes.toString(UTF_8).lines().toList();
    assertThat(lines).hasSize(10);
    assertThat(lines.get(0)).isEqualTo("sample: 4/40 steps (10%), 0m36s left");
    assertThat(lines.get(4)).isEqualTo("sample: 20/40 steps (50%), 0m20s left");
    assertThat(lines.get(9)).isEqualTo("sample: 40/40 steps (100%)");
  }

  @Test
  void etaFormat() {
    assertThat(ProgressMeter.formatEta(Duration.ofSeconds(187))).isEqualTo("3m07s");
    assertThat(ProgressMeter.formatEta(Duration.ofSeconds(3720))).isEqualTo("1h02m");
    assertThat(new ProgressMeter.SteadyRate().perSecond()).isEqualTo(Optional.empty());
  }
}
