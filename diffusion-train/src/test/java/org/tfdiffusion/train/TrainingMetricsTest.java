package org.tfdiffusion.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.tuple;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainingMetricsTest {
  @TempDir Path temp;

  private final List<String> warnings = new ArrayList<>();

  @Test
  void resumingDropsLaterRowsAndContinuesTheClock() throws Exception {
    Path file = temp.resolve("metrics.csv");
    Files.writeString(
        file,
        TrainingMetrics.HEADER
            + "\n1,0,0.9,1e-4,1,10,1.5\n2,0,0.8,1e-4,1,10,3.0\n3,0,0.7,1e-4,1,10,4.5\n");
    try (TrainingMetrics metrics = TrainingMetrics.open(file, 2, warnings::add)) {
      assertThat(metrics.elapsedBefore()).isEqualTo(3.0);
      metrics.append(new TrainingMetrics.Row(3, 0, 0.6, 1e-4, 1, 10, 4.0));
    }
    assertThat(TrainingMetrics.read(file))
        .extracting(TrainingMetrics.Row::step, TrainingMetrics.Row::elapsedSeconds)
        .containsExactly(tuple(1L, 1.5), tuple(2L, 3.0), tuple(3L, 4.0));
  }

  @Test
  void aNewRunStartsTheClockAtZero() throws Exception {
    try (TrainingMetrics metrics =
        TrainingMetrics.open(temp.resolve("metrics.csv"), 0, warnings::add)) {
      assertThat(metrics.elapsedBefore()).isZero();
    }
  }

  /** A row cut short by a kill, or an edit gone wrong, is dropped with a warning, not a crash. */
  @Test
  void malformedLinesAreDroppedWithAWarning() throws Exception {
    Path file = temp.resolve("metrics.csv");
    Files.writeString(
        file,
        TrainingMetrics.HEADER
            + "\n1,0,0.9,1e-4,1,10,1.5\n2,0,0.8,1e-4,1,10,3.0\n2,0,0.8,abc,1,10,3.5\n"
            + "garbage\n3,0,0.7,1e-4,1,10,4.5\n4,0,0.6,1e-4,1,10,6.0,extra\n5,0,0.5,1e-4,1,1");
    try (TrainingMetrics metrics = TrainingMetrics.open(file, 3, warnings::add)) {
      assertThat(metrics.elapsedBefore()).isEqualTo(4.5);
    }
    assertThat(warnings).containsExactly(file + ": dropped 4 malformed lines (line 4, 5, 7, 8)");
    assertThat(TrainingMetrics.read(file))
        .extracting(TrainingMetrics.Row::step)
        .containsExactly(1L, 2L, 3L);
    assertThat(Files.readAllLines(file)).first().isEqualTo(TrainingMetrics.HEADER);
  }
}
